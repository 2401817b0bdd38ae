-- The hosted checkout page (SQLite): each invoice's unguessable page token
-- (192 random bits, drawn apart from the id) and the shop's return URLs.
-- Invoices made before this migration get a token here, from SQLite's own
-- cryptographic random source.
ALTER TABLE invoices ADD COLUMN checkout_token TEXT;
ALTER TABLE invoices ADD COLUMN description TEXT;
ALTER TABLE invoices ADD COLUMN success_url TEXT;
ALTER TABLE invoices ADD COLUMN cancel_url TEXT;
UPDATE invoices SET checkout_token = lower(hex(randomblob(24))) WHERE checkout_token IS NULL;
CREATE UNIQUE INDEX invoices_checkout_token ON invoices (checkout_token);
