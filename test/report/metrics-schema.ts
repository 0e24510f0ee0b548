/** schemas/metrics.schema.json compiled with ajv, for the tests that check real and synthetic metrics. */
import { readFileSync } from 'node:fs';
import { Ajv2020 } from 'ajv/dist/2020.js';

export const metricsSchema = JSON.parse(readFileSync(new URL('../../schemas/metrics.schema.json', import.meta.url), 'utf8')) as Record<string, any>;

const validate = new Ajv2020({ allErrors: true, strict: true }).compile(metricsSchema);

/** Schema violations as `path: message` lines; empty when valid. */
export function metricsSchemaErrors(value: unknown): string[] {
  return validate(value) ? [] : (validate.errors ?? []).map((e) => `${e.instancePath || '/'}: ${e.message}`);
}
