/**
 * The experiment schema (schemas/experiment.schema.json), compiled once. The loader, the CLI and
 * editor tooling all validate against this one file, so what the YAML language server accepts is
 * what kdq accepts.
 */
import { readFileSync } from 'node:fs';
import { Ajv2020, type ErrorObject, type ValidateFunction } from 'ajv/dist/2020.js';

/** Absolute path of schemas/experiment.schema.json. */
export const SCHEMA_PATH = new URL('../../schemas/experiment.schema.json', import.meta.url);

let cachedSchema: Record<string, unknown> | undefined;
let cachedValidator: ValidateFunction | undefined;

/** The parsed JSON schema (read once). */
export function experimentSchema(): Record<string, unknown> {
  cachedSchema ??= JSON.parse(readFileSync(SCHEMA_PATH, 'utf8')) as Record<string, unknown>;
  return cachedSchema;
}

/**
 * The compiled validator, built on first use: `allErrors` so one run reports every problem,
 * `strict` so a typo in the schema itself fails loudly instead of silently accepting anything.
 */
export function experimentValidator(): ValidateFunction {
  if (!cachedValidator) {
    // `verbose` hands the translator the offending value and its schema. Strict without union
    // types, as editors' validators read the file: sizes are an anyOf of an integer and a pair.
    const ajv = new Ajv2020({ allErrors: true, strict: true, verbose: true });
    cachedValidator = ajv.compile(experimentSchema());
  }
  return cachedValidator;
}

/** Validates a merged (pre-defaults) experiment; returns ajv's raw errors, empty when valid. */
export function checkExperimentSchema(value: unknown): ErrorObject[] {
  const validate = experimentValidator();
  return validate(value) ? [] : [...(validate.errors ?? [])];
}
