ALTER TABLE "channels" ADD COLUMN "last_seq" bigint DEFAULT 0 NOT NULL;--> statement-breakpoint
ALTER TABLE "messages" ADD COLUMN "seq" bigint;--> statement-breakpoint
CREATE UNIQUE INDEX "messages_channel_id_seq_key" ON "messages" USING btree ("channel_id","seq");