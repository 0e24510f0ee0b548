/** Types of scripts/render-report.mjs, for the TypeScript tests that import it. */
export declare function findChromium(): string | null;
export declare function externalReferences(html: string): string[];
export declare const OVERFLOW_PROBE: string;
export declare function renderReport(
  htmlPath: string,
  pngPath: string,
  opts?: { width?: number; chromium?: string | null },
): Promise<{ problems: string[]; width: number; height: number; requests: string[] }>;
