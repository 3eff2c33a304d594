-- The listener's taste (cluster name) each recommendation serves.
ALTER TABLE model.recommendations ADD COLUMN taste text NOT NULL DEFAULT '';
