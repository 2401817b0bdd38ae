-- The hot wallet's funds are its balance at the view's block less what is
-- not in a block at or below it: this index finds the transactions mined
-- above a height without reading the history.
CREATE INDEX txs_mined ON txs (chain_id, sender, block_number) WHERE block_number IS NOT NULL;
