//! A page checked in a real browser: `tests/report/check.mjs` opens it in
//! headless Chromium (Debian's `/usr/bin/chromium`, or `OPML_CHROMIUM`,
//! driven by the npm-pinned `playwright-core`), and reports what the page
//! logged as errors or warnings, the exceptions it threw, the requests that
//! failed, and its structure; it also saves a full-page screenshot.
//!
//! Both the browser and the package come from `./dev setup`
//! (`just browser-setup`); when either is missing, [`check_page`] fails
//! saying so, it never skips.

use anyhow::{Context, Result, bail};
use serde::Deserialize;
use std::path::{Path, PathBuf};
use std::process::Command;

/// What the browser saw on a page.
#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct PageCheck {
    /// Console messages of type error or warning (`"error: ..."`).
    pub console_errors: Vec<String>,
    /// Uncaught exceptions.
    pub page_errors: Vec<String>,
    /// Requests that failed (URL and reason).
    pub failed_requests: Vec<String>,
    /// `g.band` elements of `svg#bands`.
    pub bands: usize,
    /// The ids of the page's `section`s, in order.
    pub sections: Vec<String>,
    /// The rendered size of `svg#bands`, when there is one.
    #[serde(default)]
    pub svg: Option<SvgSize>,
    /// The document's title.
    pub title: String,
}

/// A rendered size in CSS pixels.
#[derive(Debug, Clone, Copy, PartialEq, Deserialize)]
pub struct SvgSize {
    /// Width.
    pub width: f64,
    /// Height.
    pub height: f64,
}

impl PageCheck {
    /// The page logged no error or warning, threw nothing and every request succeeded.
    pub fn clean(&self) -> bool {
        self.console_errors.is_empty()
            && self.page_errors.is_empty()
            && self.failed_requests.is_empty()
    }
}

/// The browser `check.mjs` launches.
fn chromium_path() -> PathBuf {
    std::env::var_os("OPML_CHROMIUM")
        .map_or_else(|| PathBuf::from("/usr/bin/chromium"), PathBuf::from)
}

/// Opens `page` (an HTML file) in headless Chromium, saves a full-page
/// screenshot to `screenshot` (PNG) and returns what the browser saw.
pub fn check_page(page: &Path, screenshot: &Path) -> Result<PageCheck> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/report");
    if !dir
        .join("node_modules/playwright-core/package.json")
        .exists()
    {
        bail!(
            "playwright-core is not installed in `{}`; run `./dev setup` (npm ci of tests/report)",
            dir.display()
        );
    }
    let chromium = chromium_path();
    if !chromium.exists() {
        bail!(
            "Chromium is not installed at `{}`; run `./dev setup` (installs Debian's chromium)",
            chromium.display()
        );
    }
    let out = Command::new("node")
        .arg(dir.join("check.mjs"))
        .arg(page)
        .arg(screenshot)
        .output()
        .context("running node (run `./dev setup`)")?;
    let stderr = String::from_utf8_lossy(&out.stderr);
    if !out.status.success() {
        bail!(
            "check.mjs on `{}` failed ({}): {}",
            page.display(),
            out.status,
            stderr.trim()
        );
    }
    let stdout = String::from_utf8_lossy(&out.stdout);
    let line = stdout
        .lines()
        .rev()
        .find(|l| !l.trim().is_empty())
        .unwrap_or_default();
    serde_json::from_str(line).with_context(|| {
        format!("check.mjs printed no result line: stdout {stdout:?}, stderr {stderr:?}")
    })
}
