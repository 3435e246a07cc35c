/**
 * The default channel (DEFAULT_CHANNEL, `general` unless set): a public channel made with the
 * first account of an install, which every new account joins as it registers, inside the
 * registering transaction (an account never exists without it).
 */
import { sql } from 'drizzle-orm';
import type { Db } from '../db/client.js';

type Tx = Parameters<Parameters<Db['transaction']>[0]>[0];

/**
 * Joins `userId` to the default channel, making the channel if it does not exist (the first
 * account does; a later one also does if an operator set DEFAULT_CHANNEL on an older install).
 * A channel of that name that is not public is left alone: nobody is put in a private channel.
 */
export async function joinDefaultChannel(tx: Tx, name: string, userId: string): Promise<void> {
  await tx.execute(sql`
    INSERT INTO channels (name, kind, created_by)
    SELECT ${name}, 'public', ${userId}::uuid
     WHERE NOT EXISTS (SELECT 1 FROM channels WHERE lower(name) = lower(${name}) AND kind <> 'direct')
    ON CONFLICT DO NOTHING`);
  await tx.execute(sql`
    INSERT INTO channel_members (channel_id, user_id, read_seq)
    SELECT id, ${userId}::uuid, last_seq FROM channels
     WHERE lower(name) = lower(${name}) AND kind = 'public'
    ON CONFLICT DO NOTHING`);
}
