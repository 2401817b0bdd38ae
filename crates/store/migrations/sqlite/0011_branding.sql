-- A merchant's look on its checkout page (coffer-domain's Branding): an
-- accent colour (#rrggbb) and a PNG or JPEG logo, both checked again when
-- read, so an edited row is refused rather than served.
CREATE TABLE merchant_branding (
    merchant_id BLOB PRIMARY KEY NOT NULL REFERENCES merchants (id),
    color       TEXT CHECK (color IS NULL OR (length(color) = 7 AND color GLOB '#[0-9a-f][0-9a-f][0-9a-f][0-9a-f][0-9a-f][0-9a-f]')),
    logo        BLOB,
    logo_type   TEXT CHECK (logo_type IS NULL OR logo_type IN ('image/png', 'image/jpeg')),
    updated_at  INTEGER NOT NULL,
    CHECK ((logo IS NULL) = (logo_type IS NULL))
) STRICT;
