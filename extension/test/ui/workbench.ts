// Driving the VS Code workbench (code-server) with playwright-core and Debian's chromium.
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { chromium, type BrowserContext, type Locator, type Page } from 'playwright-core';

const VIEW_TIMEOUT = 60_000;

export class Workbench {
  private constructor(
    private readonly context: BrowserContext,
    readonly page: Page,
    private readonly profile: string,
    private readonly screenshots: string,
  ) {}

  static async open(chromiumPath: string, url: string, screenshots: string): Promise<Workbench> {
    const profile = fs.mkdtempSync(path.join(os.tmpdir(), 'claude-sync-ui-chromium-'));
    const context = await chromium.launchPersistentContext(profile, {
      executablePath: chromiumPath,
      headless: true,
      viewport: { width: 1280, height: 760 },
      args: ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'],
      env: { ...process.env, XDG_CONFIG_HOME: profile, XDG_CACHE_HOME: profile },
      permissions: ['clipboard-read', 'clipboard-write'],
    });
    const page = context.pages()[0] ?? (await context.newPage());
    await page.goto(url);
    await page.locator('.part.activitybar').waitFor({ timeout: VIEW_TIMEOUT });
    return new Workbench(context, page, profile, screenshots);
  }

  async close(): Promise<void> {
    await this.context.close().catch(() => undefined);
    fs.rmSync(this.profile, { recursive: true, force: true });
  }

  /** Opens the Claude Sync container from the activity bar and widens the side bar for readable rows. */
  async openClaudeSync(): Promise<void> {
    const icon = this.page.locator('.part.activitybar [aria-label^="Claude Sync"]').first();
    await icon.waitFor({ timeout: VIEW_TIMEOUT });
    await icon.click();
    // attached, not visible: an empty view shows its welcome text instead of the tree
    await this.tree('Local Sessions').waitFor({ state: 'attached', timeout: VIEW_TIMEOUT });
    const sidebar = await this.page.locator('.part.sidebar').boundingBox();
    if (sidebar && sidebar.width < 450) {
      const x = sidebar.x + sidebar.width + 1;
      const y = sidebar.y + sidebar.height / 2;
      await this.page.mouse.move(x, y);
      await this.page.mouse.down();
      await this.page.mouse.move(x + 560 - sidebar.width, y, { steps: 5 });
      await this.page.mouse.up();
    }
  }

  tree(view: 'Local Sessions' | 'Remote Bundles'): Locator {
    return this.page.locator(`.part.sidebar [role="tree"][aria-label="${view}"]`);
  }

  /** The tree row whose label is exactly `label`. */
  row(view: 'Local Sessions' | 'Remote Bundles', label: string): Locator {
    return this.tree(view).locator('.monaco-list-row').filter({ has: this.page.locator('.label-name', { hasText: new RegExp(`^${escapeRegExp(label)}$`) }) });
  }

  async waitForRow(view: 'Local Sessions' | 'Remote Bundles', label: string): Promise<Locator> {
    const row = this.row(view, label).first();
    await row.waitFor({ timeout: VIEW_TIMEOUT });
    return row;
  }

  async rowDescription(row: Locator): Promise<string> {
    return (await row.locator('.label-description').first().textContent()) ?? '';
  }

  /** Hovers a row and clicks its inline action (e.g. "Upload Session"). */
  async clickInline(row: Locator, action: string): Promise<void> {
    await row.hover();
    const button = row.locator(`.action-label[aria-label^="${action}"]`).first();
    await button.waitFor({ timeout: 10_000 });
    await button.click();
  }

  /** Waits for a notification toast whose text matches. */
  async waitForToast(text: RegExp, timeout = VIEW_TIMEOUT): Promise<string> {
    const toast = this.page.locator('.notifications-toasts .notification-list-item-message').filter({ hasText: text }).first();
    await toast.waitFor({ timeout });
    return (await toast.textContent()) ?? '';
  }

  /** A button of a view's welcome content (shown while the view has no rows). */
  welcomeButton(title: string): Locator {
    return this.page.locator('.part.sidebar .welcome-view-content').getByRole('button', { name: title, exact: true }).first();
  }

  async sidebarText(): Promise<string> {
    return (await this.page.locator('.part.sidebar').innerText()) ?? '';
  }

  /** The description next to a view's title (e.g. which remote it shows). */
  async viewDescription(view: 'Local Sessions' | 'Remote Bundles'): Promise<string> {
    const header = this.page.locator('.part.sidebar .pane-header').filter({ has: this.page.locator('h3.title', { hasText: view }) }).first();
    return (await header.locator('.description').first().textContent()) ?? '';
  }

  /** Types into the open quick input (an input box, a picker) and presses Enter. */
  async answer(value: string): Promise<void> {
    const input = this.page.locator('.quick-input-widget input.input').first();
    await input.waitFor({ timeout: VIEW_TIMEOUT });
    await input.fill(value);
    await this.page.waitForTimeout(300); // the simple file dialog validates the path as it is typed
    await input.press('Enter');
  }

  /** Picks a folder in VS Code's own file dialog (a quick input): types its path, then presses its OK button. */
  async pickFolder(folder: string, ok: string): Promise<void> {
    const input = this.page.locator('.quick-input-widget input.input').first();
    await input.waitFor({ timeout: VIEW_TIMEOUT });
    const want = folder.endsWith('/') ? folder : `${folder}/`;
    // The dialog fills in its starting folder a moment after it opens, and may complete what is
    // typed: type until it holds exactly the folder, then let it list it.
    for (let i = 0; i < 10; i++) {
      await this.page.waitForTimeout(500);
      if ((await input.inputValue()) === want) break;
      await input.fill(want);
    }
    await this.page.waitForTimeout(500);
    await this.page.locator('.quick-input-widget').getByRole('button', { name: ok, exact: true }).click();
  }

  /** Right-clicks a row and picks an entry of its context menu. */
  async contextMenu(row: Locator, item: string): Promise<void> {
    await row.click({ button: 'right' });
    const entry = this.page.locator('.context-view .action-item').filter({ hasText: new RegExp(`^${escapeRegExp(item)}`) }).first();
    await entry.waitFor({ timeout: 10_000 });
    await this.page.waitForTimeout(300); // the menu ignores a click while it opens
    await entry.locator('.action-menu-item, .action-label').first().click();
    if (await entry.isVisible().catch(() => false)) await this.page.keyboard.press('Enter');
  }

  /** The number on the Claude Sync icon of the activity bar ("" when there is none). */
  async activityBadge(): Promise<string> {
    const item = this.page.locator('.part.activitybar .action-item[aria-label^="Claude Sync"], .part.activitybar .action-item:has([aria-label^="Claude Sync"])').first();
    const badge = item.locator('.badge-content').first();
    if (!(await badge.count()) || !(await badge.isVisible())) return '';
    return ((await badge.textContent()) ?? '').trim();
  }

  async clipboard(): Promise<string> {
    return this.page.evaluate(() => (globalThis as unknown as { navigator: { clipboard: { readText(): Promise<string> } } }).navigator.clipboard.readText());
  }

  /** A toast's button (a remedy, "Show Failures", ...). */
  toastButton(text: RegExp, button: string): Locator {
    return this.page
      .locator('.notifications-toasts .notification-toast-container')
      .filter({ hasText: text })
      .first()
      .getByRole('button', { name: button, exact: true });
  }

  /** The buttons of the toast whose text matches. */
  async toastButtons(text: RegExp): Promise<string[]> {
    const toast = this.page.locator('.notifications-toasts .notification-toast-container').filter({ hasText: text }).first();
    return (await toast.locator('.monaco-button').allInnerTexts()).map((t) => t.trim()).filter(Boolean);
  }

  async closeToasts(): Promise<void> {
    await this.runCommand('Notifications: Clear All Notifications');
  }

  /** Runs a command from the palette by its title. */
  async runCommand(title: string): Promise<void> {
    await this.page.keyboard.press('F1');
    await this.answer(`>${title}`);
  }

  /** The text of the active editor (what is rendered of it). */
  async editorText(): Promise<string> {
    const lines = this.page.locator('.editor-group-container.active .monaco-editor .view-lines').first();
    await lines.waitFor({ timeout: VIEW_TIMEOUT });
    return ((await lines.innerText()) ?? '').replace(/\u00a0/g, ' ');
  }

  /** The modal dialog (a confirmation, the recovery phrase), once it shows. */
  async dialog(text: RegExp): Promise<Locator> {
    const box = this.page.locator('.monaco-dialog-box').filter({ hasText: text }).first();
    await box.waitFor({ timeout: VIEW_TIMEOUT });
    return box;
  }

  /** A modal dialog's message and detail, as shown. */
  async dialogText(box: Locator): Promise<{ message: string; detail: string }> {
    const message = (await box.locator('.dialog-message-text').first().innerText()).trim();
    const detail = (await box.locator('.dialog-message-detail').first().innerText().catch(() => '')).trim();
    return { message, detail };
  }

  async dialogButton(box: Locator, button: string): Promise<void> {
    await box.locator('.dialog-buttons .monaco-button').filter({ hasText: new RegExp(`^${escapeRegExp(button)}$`) }).first().click();
    await box.waitFor({ state: 'detached', timeout: 10_000 });
  }

  statusItem(text: RegExp): Locator {
    return this.page.locator('.part.statusbar .statusbar-item').filter({ hasText: text }).first();
  }

  async screenshot(name: string): Promise<string> {
    await this.page.waitForTimeout(1000); // toasts fade in: a shot taken at once shows them faint
    const file = path.join(this.screenshots, `${name}.png`);
    await this.page.screenshot({ path: file });
    return file;
  }
}

function escapeRegExp(s: string): string {
  return s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
}
