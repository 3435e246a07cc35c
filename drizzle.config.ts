import { defineConfig } from 'drizzle-kit';

// Generation only reads the schema; `npm run db:migrate` and the server apply migrations.
export default defineConfig({
  dialect: 'postgresql',
  schema: './server/db/schema.ts',
  out: './migrations',
});
