-- A merchant's look on its checkout page (PostgreSQL); see the SQLite
-- migration of the same number.
CREATE TABLE merchant_branding (
    merchant_id UUID PRIMARY KEY REFERENCES merchants (id),
    color       TEXT CHECK (color IS NULL OR color ~ '^#[0-9a-f]{6}$'),
    logo        BYTEA,
    logo_type   TEXT CHECK (logo_type IS NULL OR logo_type IN ('image/png', 'image/jpeg')),
    updated_at  BIGINT NOT NULL,
    CHECK ((logo IS NULL) = (logo_type IS NULL))
);
