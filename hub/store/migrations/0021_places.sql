-- Communities set up from the browser: a Chinese name next to the existing one, the site's time zone
-- and coordinates, the working calendar of the routing file it follows (NULL: the file's `calendar`),
-- and named grids and buildings. Devices keep referencing grid and building ids as plain text, so a
-- device may name a building before (or without) its record here.
ALTER TABLE communities
    ADD COLUMN name_zh   text CHECK (length(name_zh) <= 100),
    ADD COLUMN timezone  text,
    ADD COLUMN calendar  text,
    ADD COLUMN latitude  double precision CHECK (latitude BETWEEN -90 AND 90),
    ADD COLUMN longitude double precision CHECK (longitude BETWEEN -180 AND 180),
    ADD CONSTRAINT communities_coordinates_paired CHECK ((latitude IS NULL) = (longitude IS NULL));

CREATE TABLE grids (
    community_id text NOT NULL REFERENCES communities (id),
    id           text NOT NULL CHECK (id ~ '^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$'),
    name_en      text NOT NULL CHECK (length(name_en) BETWEEN 1 AND 100),
    name_zh      text NOT NULL CHECK (length(name_zh) BETWEEN 1 AND 100),
    PRIMARY KEY (community_id, id)
);

CREATE TABLE buildings (
    community_id text NOT NULL REFERENCES communities (id),
    id           text NOT NULL CHECK (id ~ '^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$'),
    grid         text,
    name_en      text NOT NULL CHECK (length(name_en) BETWEEN 1 AND 100),
    name_zh      text NOT NULL CHECK (length(name_zh) BETWEEN 1 AND 100),
    PRIMARY KEY (community_id, id),
    FOREIGN KEY (community_id, grid) REFERENCES grids (community_id, id)
);
