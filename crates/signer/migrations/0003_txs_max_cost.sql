-- What each transaction can cost its sender in the native coin at most
-- (value + gas limit × fee cap), stored when it is signed: the funds check
-- sums it over what is in flight without reading each plan back.
ALTER TABLE txs ADD COLUMN max_cost TEXT;
