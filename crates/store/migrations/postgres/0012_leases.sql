-- Leases for work that runs once per fleet (a chain's watcher, its
-- expiry): holder, epoch (grows on every change of holder) and times in
-- ms of the database's clock. See crates/store/src/leases.rs.
CREATE TABLE leases (
    name           TEXT PRIMARY KEY,
    holder         TEXT NOT NULL,
    epoch          BIGINT NOT NULL CHECK (epoch > 0),
    acquired_at_ms BIGINT NOT NULL,
    renewed_at_ms  BIGINT NOT NULL,
    expires_at_ms  BIGINT NOT NULL
);
