-- Custom migration (drizzle-kit generate --custom): READ1 says a member's cursor starts at the
-- channel's last seq when they join, so nothing from before is unread. Members who joined before
-- read cursors existed start there too, instead of every old message turning unread at once.
UPDATE "channel_members" AS cm SET "read_seq" = c."last_seq" FROM "channels" AS c WHERE c."id" = cm."channel_id";
