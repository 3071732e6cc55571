// Task providers: who can load a task id. The paper's six hub tasks are built in; user tasks come from a task file
// (see user-task.ts); other families (e.g. `synthetic-...`) register themselves with registerTaskProvider.

import { type LoadPaperTaskOptions, isPaperTaskId, loadPaperTask, PAPER_TASK_IDS } from './paper-tasks.ts';
import type { Task } from './task.ts';
import { loadUserTask } from './user-task.ts';

export interface TaskLoadOptions extends LoadPaperTaskOptions {
  /** A user task's task file (a plan entry's `file`). */
  file?: string;
}

export interface TaskProvider {
  /** Short name for messages, e.g. 'paper', 'synthetic'. */
  name: string;
  /** Ids this provider owns, in words for error messages: e.g. '"synthetic/<name>"'. */
  describeIds: string;
  /** True when the id is this provider's (it may still be unknown: see problem). */
  claims(id: string): boolean;
  /** Why an id the provider claims is not a task it has (undefined when it is fine). */
  problem?(id: string, options: { file?: string }): string | undefined;
  load(id: string, options: TaskLoadOptions): Promise<Task>;
}

export const paperTaskProvider: TaskProvider = {
  name: 'paper',
  describeIds: `the paper's tasks (${PAPER_TASK_IDS.join(', ')})`,
  claims: (id) => isPaperTaskId(id),
  load: (id, options) => loadPaperTask(id, options),
};

export const userTaskProvider: TaskProvider = {
  name: 'user',
  describeIds: 'a user task ("user-<name>" with a "file": a task JSON file)',
  claims: (id) => id.startsWith('user-'),
  problem: (_id, { file }) => (file ? undefined : 'a user task needs "file": the path of its task JSON file'),
  load: (id, options) => {
    if (!options.file) throw new Error(`task ${id}: a user task needs a task file`);
    return loadUserTask(options.file);
  },
};

const providers: TaskProvider[] = [paperTaskProvider, userTaskProvider];

/** Adds a provider (a later one with the same name replaces the earlier one). */
export function registerTaskProvider(provider: TaskProvider): void {
  const i = providers.findIndex((p) => p.name === provider.name);
  if (i >= 0) providers[i] = provider;
  else providers.push(provider);
}

export function taskProviders(): readonly TaskProvider[] {
  return providers;
}

/** The provider of an id, or an error message that lists what ids exist. */
export function findTaskProvider(id: string, options: { file?: string } = {}): { provider: TaskProvider } | { error: string } {
  const provider = providers.find((p) => p.claims(id));
  if (!provider) {
    return { error: `unknown task "${id}"; known tasks are ${providers.map((p) => p.describeIds).join('; ')}` };
  }
  const problem = provider.problem?.(id, options);
  return problem ? { error: `task "${id}": ${problem}` } : { provider };
}

export async function loadTask(id: string, options: TaskLoadOptions = {}): Promise<Task> {
  const found = findTaskProvider(id, options);
  if ('error' in found) throw new Error(found.error);
  return found.provider.load(id, options);
}
