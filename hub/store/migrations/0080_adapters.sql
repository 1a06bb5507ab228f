-- Adapters: a refused vendor message names the adapter and the step that refused it, and keeps its whole
-- payload (bounded by the 16 KiB message limit) so it can be mapped again once the adapter is fixed.
-- Devices are found by the IMEI or vendor id in their metadata.
ALTER TABLE dead_letters
    ADD COLUMN adapter text,
    ADD COLUMN step    text,
    ADD COLUMN payload bytea;
CREATE INDEX dead_letters_adapter_idx ON dead_letters (adapter, received_at DESC) WHERE adapter IS NOT NULL;
CREATE INDEX devices_imei_idx ON devices ((metadata ->> 'imei')) WHERE metadata ? 'imei';
CREATE INDEX devices_vendor_id_idx ON devices ((metadata ->> 'vendor_id')) WHERE metadata ? 'vendor_id';
