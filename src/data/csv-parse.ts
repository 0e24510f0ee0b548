/**
 * RFC 4180 CSV: fields separated by commas, records by CRLF or LF; a field in double quotes may
 * hold commas, line breaks and doubled quotes (`""`). Each record keeps the line it starts on, so
 * errors can say `file:line` even after quoted line breaks. Blank lines are skipped.
 */
import { badFile } from './formats/bad-file.ts';

export interface CsvRecord {
  fields: string[];
  /** 1-based line of the file where the record starts. */
  line: number;
}

const FIX = 'quote a field that holds commas, quotes or line breaks ("a, b"), and double the quotes inside it ("say ""hi""")';

/** Every record of `text` (the contents of `file`, named in errors). */
export function parseCsv(text: string, file: string): CsvRecord[] {
  const out: CsvRecord[] = [];
  let i = text.charCodeAt(0) === 0xfeff ? 1 : 0; // a UTF-8 byte-order mark, as spreadsheet programs write
  let line = 1;
  const n = text.length;
  while (i < n) {
    const start = line;
    const fields: string[] = [];
    for (;;) {
      let value: string;
      if (text[i] === '"') {
        const opened = line;
        let s = '';
        i++;
        for (;;) {
          const q = text.indexOf('"', i);
          if (q < 0) throw badFile(file, { line: opened }, 'a quoted field is never closed (the file ends inside it)', FIX);
          const chunk = text.slice(i, q);
          for (let k = 0; k < chunk.length; k++) if (chunk[k] === '\n') line++;
          s += chunk;
          if (text[q + 1] === '"') {
            s += '"';
            i = q + 2;
          } else {
            i = q + 1;
            break;
          }
        }
        const next = text[i];
        if (i < n && next !== ',' && next !== '\n' && next !== '\r') {
          throw badFile(file, { line }, `a quoted field is followed by ${JSON.stringify(next)}, expected a comma or the end of the line`, FIX);
        }
        value = s;
      } else {
        let j = i;
        while (j < n && text[j] !== ',' && text[j] !== '\n' && text[j] !== '\r') j++;
        value = text.slice(i, j);
        if (value.includes('"')) throw badFile(file, { line }, `a quote inside the unquoted field ${JSON.stringify(value)}`, FIX);
        i = j;
      }
      fields.push(value);
      if (text[i] === ',') {
        i++;
        continue;
      }
      // End of record: CRLF, LF, a lone CR, or the end of the text.
      if (text[i] === '\r') i++;
      if (text[i] === '\n') i++;
      line++;
      break;
    }
    if (!(fields.length === 1 && fields[0] === '')) out.push({ fields, line: start });
  }
  return out;
}
