-- Custom migration (drizzle-kit generate --custom): number the messages stored before channel
-- seqs existed, per channel by id (ids already grew in commit order within a channel), and set
-- each channel's last_seq to its count, so the next message continues without a gap (SEQ1).
UPDATE "messages" AS m SET "seq" = n.seq
  FROM (SELECT "id", row_number() OVER (PARTITION BY "channel_id" ORDER BY "id") AS seq FROM "messages") AS n
 WHERE m."id" = n."id";--> statement-breakpoint
UPDATE "channels" AS c SET "last_seq" = COALESCE((SELECT max("seq") FROM "messages" WHERE "channel_id" = c."id"), 0);
