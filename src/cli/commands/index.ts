import type { Command } from '../command.js';
import { addCommand } from './add.js';
import { backupCommand } from './backup.js';
import { delCommand } from './del.js';
import { exportCommand } from './export.js';
import { getCommand } from './get.js';
import { importCommand } from './import.js';
import { lsCommand } from './ls.js';
import { putCommand } from './put.js';
import { statusCommand } from './status.js';
import { txnCommand } from './txn.js';
import { watchCommand } from './watch.js';

/** The data verbs, in the order `kvs help` lists them. Each speaks to a server through the SDK. */
export const DATA_COMMANDS: readonly Command[] = [
  getCommand,
  putCommand,
  delCommand,
  lsCommand,
  watchCommand,
  addCommand,
  txnCommand,
  exportCommand,
  importCommand,
  backupCommand,
  statusCommand,
];
