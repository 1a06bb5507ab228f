-- Which adapter a device's latest data came through (null: it speaks the contract itself), for its page.
ALTER TABLE device_state ADD COLUMN adapter text;
