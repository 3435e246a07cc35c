ALTER TABLE "devices" ADD COLUMN "public_key" jsonb;--> statement-breakpoint
ALTER TABLE "devices" ADD COLUMN "key_thumbprint" text;