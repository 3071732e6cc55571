// What a classification task is: a spec (template, label words) and its examples, formatted the way the paper's code
// formats them. The input and the answer are separate strings: the input is the template with the example's fields
// filled in (e.g. "Sentence: {sentence} Label:"), the answer is always " " + the label word (a leading space).

import { canonicalJson, sha256Hex } from '../cache/hash.ts';

export interface TaskSpec {
  /** Stable id used in plans and cache keys, e.g. "sst2", "synthetic-parity", "user-my-task". */
  id: string;
  /** Display name, e.g. "SST-2". */
  name: string;
  /** Where the data comes from, in words (hub id and splits, a file, a generator). */
  source: string;
  /** The input with `{field}` placeholders; the answer is appended by formatAnswer, not written here. */
  template: string;
  /** The verbaliser: labelWords[c] is the word of class c (without the leading space). */
  labelWords: string[];
  /** The example fields the template uses, in order of first use. */
  fields: string[];
}

export interface Example {
  /** Stable id, e.g. "train:123" (split and row). */
  id: string;
  fields: Record<string, string>;
  /** Class index into labelWords. */
  label: number;
}

export interface Task {
  spec: TaskSpec;
  /** Demonstrations are drawn from here (and the selection split, for hub tasks: see splits.ts). */
  train: Example[];
  /** Test examples (the paper's "validation" sets). */
  eval: Example[];
}

const PLACEHOLDER = /\{([A-Za-z_][A-Za-z0-9_]*)\}/g;

/** The field names a template uses, in order of first use. */
export function templateFields(template: string): string[] {
  const out: string[] = [];
  for (const m of template.matchAll(PLACEHOLDER)) if (!out.includes(m[1])) out.push(m[1]);
  return out;
}

/** Checks a spec for what would make every prompt wrong; returns the problems (empty when fine). */
export function specProblems(spec: Pick<TaskSpec, 'template' | 'labelWords' | 'fields'>): string[] {
  const problems: string[] = [];
  const used = templateFields(spec.template);
  if (used.length === 0) problems.push(`the template ${JSON.stringify(spec.template)} has no {field} placeholder`);
  for (const f of used) if (!spec.fields.includes(f)) problems.push(`the template uses {${f}}, which is not among the fields`);
  if (spec.labelWords.length < 2) problems.push('a classification task needs at least two label words');
  const seen = new Set<string>();
  for (const w of spec.labelWords) {
    if (w.trim() === '' || w !== w.trim()) problems.push(`label word ${JSON.stringify(w)} is empty or has surrounding spaces (the answer adds its own leading space)`);
    if (seen.has(w)) problems.push(`label word ${JSON.stringify(w)} appears twice`);
    seen.add(w);
  }
  return problems;
}

/** The input text of an example: the template with its fields filled in. */
export function formatInput(spec: Pick<TaskSpec, 'id' | 'template'>, example: Pick<Example, 'id' | 'fields'>): string {
  return spec.template.replace(PLACEHOLDER, (_, name: string) => {
    const value = example.fields[name];
    if (typeof value !== 'string') {
      throw new Error(`task ${spec.id}: example ${example.id} has no field "${name}", which the template uses`);
    }
    return value;
  });
}

/** The answer text of a class: " " + its label word. */
export function formatAnswer(spec: Pick<TaskSpec, 'id' | 'labelWords'>, label: number): string {
  const word = spec.labelWords[label];
  if (!Number.isInteger(label) || word === undefined) {
    throw new Error(`task ${spec.id}: label ${label} is out of range (it has ${spec.labelWords.length} label words)`);
  }
  return ` ${word}`;
}

/** SHA-256 of a list of examples (ids, fields, labels, in order), for cache keys. */
export function hashExamples(examples: readonly Example[]): string {
  return sha256Hex(canonicalJson(examples.map((e) => [e.id, e.fields, e.label])));
}

/**
 * The data hash of a task for cache keys: everything that changes a prompt (template, label words, fields) and the
 * examples of each split. The display name and source description do not count.
 */
export function taskDataHash(task: Task): string {
  const { id, template, labelWords, fields } = task.spec;
  return sha256Hex(
    canonicalJson({ id, template, labelWords, fields, train: hashExamples(task.train), eval: hashExamples(task.eval) }),
  );
}
