/**
 * What the citation test needs from Markdown: the anchors a document's headings get on GitHub, and the links a
 * document makes. Markdown is read with marked's lexer (so headings inside code blocks are not headings) and anchors
 * are made with github-slugger (GitHub's own rules, duplicates numbered `-1`, `-2`, …).
 */
import GithubSlugger from "github-slugger";
import { Lexer, type Token } from "marked";

/** The child tokens of a block or inline token, wherever marked keeps them. */
function childrenOf(token: Token): Token[] {
  const children: Token[] = [];
  const record = token as unknown as Record<string, unknown>;
  for (const field of ["tokens", "items"]) {
    const value = record[field];
    if (Array.isArray(value)) children.push(...(value as Token[]));
  }
  // Table cells: header is a row of cells, rows a list of rows; each cell has its own inline tokens.
  const cells = [
    ...(Array.isArray(record.header) ? (record.header as { tokens?: Token[] }[]) : []),
    ...(Array.isArray(record.rows) ? (record.rows as { tokens?: Token[] }[][]).flat() : []),
  ];
  for (const cell of cells) children.push(...(cell.tokens ?? []));
  return children;
}

function walk(tokens: readonly Token[], visit: (token: Token) => void): void {
  for (const token of tokens) {
    visit(token);
    walk(childrenOf(token), visit);
  }
}

/** The text a reader sees in inline tokens (code spans without backticks, links by their text). */
function plainText(tokens: readonly Token[]): string {
  let text = "";
  for (const token of tokens) {
    const children = (token as { tokens?: Token[] }).tokens;
    if (children && children.length > 0) text += plainText(children);
    else if (token.type !== "html" && "text" in token && typeof token.text === "string") text += token.text;
  }
  return text;
}

/** The anchors of every heading of a Markdown document, as GitHub generates them. */
export function headingAnchors(markdown: string): Set<string> {
  const slugger = new GithubSlugger();
  const anchors = new Set<string>();
  walk(Lexer.lex(markdown), (token) => {
    if (token.type === "heading") anchors.add(slugger.slug(plainText((token as { tokens: Token[] }).tokens)));
  });
  return anchors;
}

export interface MarkdownLink {
  readonly href: string;
  /** 1-based line of the paragraph, list item or heading the link is in (good enough to find it). */
  readonly line: number;
}

/** Every link target of a Markdown document (inline links; code blocks and code spans are not links). */
export function markdownLinks(markdown: string): MarkdownLink[] {
  const links: MarkdownLink[] = [];
  let offset = 0;
  const lineAt = (raw: string) => {
    const at = markdown.indexOf(raw, offset);
    if (at >= 0) offset = at;
    return markdown.slice(0, Math.max(at, 0)).split("\n").length;
  };
  walk(Lexer.lex(markdown), (token) => {
    if (token.type === "link") links.push({ href: (token as { href: string }).href, line: lineAt(token.raw) });
  });
  return links;
}

/** A citation of a project document in code: `docs/<file>.md`, optionally `#<anchor>`. */
export interface Citation {
  readonly doc: string;
  readonly anchor?: string;
  readonly line: number;
  readonly text: string;
}

const CITATION = /(?<![\w/.-])docs\/([A-Za-z0-9_-]+(?:\/[A-Za-z0-9_-]+)*\.md)(?:#([A-Za-z0-9_-]+))?/g;

/** Every `docs/…md[#anchor]` in a source file, with its line. */
export function citationsIn(source: string): Citation[] {
  const citations: Citation[] = [];
  source.split("\n").forEach((text, index) => {
    for (const match of text.matchAll(CITATION)) {
      const [whole, doc, anchor] = match;
      citations.push({ doc: `docs/${doc!}`, ...(anchor ? { anchor } : {}), line: index + 1, text: whole });
    }
  });
  return citations;
}

/**
 * Citations of the datastore/GC specification by its old section numbers (the word "spec", then a part letter A to C
 * and maybe a section number), or by the name of the file it was kept in: they resolve to nothing in the repository.
 * The pattern is assembled so that a search for such citations does not find this file.
 */
const OLD_SPEC_CITATION = new RegExp(
  ["\\bspec (?:part )?[A-C](?:\\.[0-9])?\\b", ["pbs", "datastore"].join("-")].join("|"),
);

export function oldSpecCitationsIn(source: string): { line: number; text: string }[] {
  const found: { line: number; text: string }[] = [];
  source.split("\n").forEach((text, index) => {
    if (OLD_SPEC_CITATION.test(text)) found.push({ line: index + 1, text: text.trim() });
  });
  return found;
}
