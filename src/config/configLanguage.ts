// Editing *.pacs.yaml: diagnostics while typing, hovers and key/value completion, all from the
// trainer's JSON Schema bundled in schemas/ (src/config/model/configDiagnostics.ts does the work).
import * as vscode from 'vscode';
import { completionsAt, diagnoseConfig, hoverAt, loadSchema } from './model/configDiagnostics';
import type { JsonSchema } from './model/configDiagnostics';
import { Disposer } from '../vscode/disposer';

export const CONFIG_SELECTOR: vscode.DocumentSelector = { pattern: '**/*.pacs.yaml' };
const DIAGNOSE_DEBOUNCE_MS = 250;

export function isConfigDocument(document: vscode.TextDocument): boolean {
  return vscode.languages.match(CONFIG_SELECTOR, document) > 0;
}

export class ConfigLanguage extends Disposer implements vscode.HoverProvider, vscode.CompletionItemProvider {
  private readonly diagnostics = this.track(vscode.languages.createDiagnosticCollection('pacs'));
  private readonly pending = new Map<string, NodeJS.Timeout>();
  private schema: Promise<JsonSchema | undefined> | undefined;

  constructor(
    private readonly context: vscode.ExtensionContext,
    private readonly log: vscode.LogOutputChannel,
  ) {
    super();
    this.track(vscode.languages.registerHoverProvider(CONFIG_SELECTOR, this));
    this.track(vscode.languages.registerCompletionItemProvider(CONFIG_SELECTOR, this, ':', ' '));
    this.track(vscode.workspace.onDidOpenTextDocument((document) => this.schedule(document, 0)));
    this.track(vscode.workspace.onDidChangeTextDocument((e) => this.schedule(e.document, DIAGNOSE_DEBOUNCE_MS)));
    this.track(
      vscode.workspace.onDidCloseTextDocument((document) => {
        this.cancel(document.uri);
        this.diagnostics.delete(document.uri);
      }),
    );
    this.track({ dispose: () => [...this.pending.keys()].forEach((key) => clearTimeout(this.pending.get(key))) });
    for (const document of vscode.workspace.textDocuments) this.schedule(document, 0);
  }

  async provideHover(document: vscode.TextDocument, position: vscode.Position): Promise<vscode.Hover | undefined> {
    const schema = await this.loadSchema();
    if (!schema) return undefined;
    const hover = hoverAt(document.getText(), schema, position.line, position.character);
    if (!hover) return undefined;
    return new vscode.Hover(new vscode.MarkdownString(hover.markdown), document.getWordRangeAtPosition(position, /[\w.-]+/));
  }

  async provideCompletionItems(document: vscode.TextDocument, position: vscode.Position): Promise<vscode.CompletionItem[]> {
    const schema = await this.loadSchema();
    if (!schema) return [];
    return completionsAt(document.getText(), schema, position.line, position.character).map((completion) => {
      const item = new vscode.CompletionItem(
        completion.label,
        completion.kind === 'key' ? vscode.CompletionItemKind.Property : vscode.CompletionItemKind.EnumMember,
      );
      item.detail = completion.detail;
      item.documentation = new vscode.MarkdownString(completion.documentation);
      item.insertText = completion.insertText;
      return item;
    });
  }

  private schedule(document: vscode.TextDocument, delayMs: number): void {
    if (!isConfigDocument(document)) return;
    this.cancel(document.uri);
    const key = document.uri.toString();
    this.pending.set(
      key,
      setTimeout(() => {
        this.pending.delete(key);
        void this.diagnose(document);
      }, delayMs),
    );
  }

  private cancel(uri: vscode.Uri): void {
    const key = uri.toString();
    clearTimeout(this.pending.get(key));
    this.pending.delete(key);
  }

  private async diagnose(document: vscode.TextDocument): Promise<void> {
    const schema = await this.loadSchema();
    if (!schema || document.isClosed) return;
    const found = diagnoseConfig(document.getText(), schema).map((d) => {
      const range = new vscode.Range(d.line, d.column, d.endLine, d.endColumn);
      const severity = d.severity === 'error' ? vscode.DiagnosticSeverity.Error : vscode.DiagnosticSeverity.Warning;
      const diagnostic = new vscode.Diagnostic(range, d.message, severity);
      diagnostic.source = 'PACS Lab';
      if (d.key) diagnostic.code = d.key;
      return diagnostic;
    });
    this.diagnostics.set(document.uri, found);
  }

  private loadSchema(): Promise<JsonSchema | undefined> {
    this.schema ??= loadSchema(this.context.asAbsolutePath('schemas/pacs-config.schema.json')).catch((err: Error) => {
      this.log.error(`The config schema could not be loaded, so *.pacs.yaml files are not checked: ${err.message}`);
      return undefined;
    });
    return this.schema;
  }
}
