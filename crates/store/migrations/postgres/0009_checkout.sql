-- The hosted checkout page (PostgreSQL): each invoice's unguessable page
-- token (192 random bits, drawn apart from the id) and the shop's return
-- URLs. Invoices made before this migration get a token from two
-- gen_random_uuid() (cryptographically random, built in since PostgreSQL
-- 13): 48 hex digits holding at least 180 random bits.
ALTER TABLE invoices ADD COLUMN checkout_token TEXT;
ALTER TABLE invoices ADD COLUMN description TEXT;
ALTER TABLE invoices ADD COLUMN success_url TEXT;
ALTER TABLE invoices ADD COLUMN cancel_url TEXT;
UPDATE invoices
   SET checkout_token = substr(replace(gen_random_uuid()::text, '-', '') || replace(gen_random_uuid()::text, '-', ''), 1, 48)
 WHERE checkout_token IS NULL;
ALTER TABLE invoices ALTER COLUMN checkout_token SET NOT NULL;
CREATE UNIQUE INDEX invoices_checkout_token ON invoices (checkout_token);
