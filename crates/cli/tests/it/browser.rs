//! A real headless Chromium, driven over WebDriver by its own chromedriver
//! (Debian's `chromium` and `chromium-driver`, which `scripts/test`
//! installs), and QR codes read back from its screenshots by rqrr, a
//! decoder that shares no code with the encoder that drew them.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::net::TcpListener;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use fantoccini::{Client, ClientBuilder, Locator};
use serde_json::{Value, json};

use crate::support::Running;

/// Where Debian puts them.
const CHROMIUM: &str = "/usr/bin/chromium";
const CHROMEDRIVER: &str = "/usr/bin/chromedriver";

/// `None` (with a loud line) only where `scripts/test` said it skips them.
pub(crate) fn available() -> bool {
    if std::env::var("COFFER_TEST_BROWSER").as_deref() == Ok("skip") {
        eprintln!("SKIPPED: no Chromium here (scripts/test said so loudly)");
        return false;
    }
    assert!(
        std::path::Path::new(CHROMIUM).exists() && std::path::Path::new(CHROMEDRIVER).exists(),
        "the browser tests need {CHROMIUM} and {CHROMEDRIVER}: run ./scripts/test, which installs them \
         (apt-get install chromium chromium-driver), or set COFFER_TEST_BROWSER=skip"
    );
    true
}

/// One chromedriver and a session of Chromium, closed when dropped.
pub(crate) struct Browser {
    pub(crate) client: Client,
    _driver: Running,
}

impl Browser {
    /// A fresh profile; `javascript: false` turns scripts off for every page.
    pub(crate) async fn start(javascript: bool) -> Self {
        let port = TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
        let driver = Running::spawn(
            Command::new(CHROMEDRIVER).arg(format!("--port={port}")).stdout(Stdio::null()).stderr(Stdio::null()),
        );
        let profile = tempfile::tempdir().unwrap().keep();
        let mut options = json!({
            "binary": CHROMIUM,
            "args": ["--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                     "--window-size=520,1100", "--hide-scrollbars", "--no-first-run",
                     format!("--user-data-dir={}", profile.display())],
        });
        if !javascript {
            options["prefs"] = json!({"profile.managed_default_content_settings.javascript": 2});
        }
        let mut caps = serde_json::Map::new();
        caps.insert("browserName".into(), json!("chrome"));
        caps.insert("goog:chromeOptions".into(), options);
        let deadline = Instant::now() + Duration::from_secs(30);
        let client = loop {
            let connector = hyper_util::client::legacy::connect::HttpConnector::new();
            match ClientBuilder::new(connector)
                .capabilities(caps.clone())
                .connect(&format!("http://127.0.0.1:{port}"))
                .await
            {
                Ok(client) => break client,
                Err(e) if Instant::now() < deadline => {
                    let _ = e;
                    tokio::time::sleep(Duration::from_millis(100)).await;
                }
                Err(e) => panic!("chromedriver on port {port} gave no session: {e}"),
            }
        };
        Self { client, _driver: driver }
    }

    /// `main#checkout`'s `data-state`, once it is `state` (within `within`).
    pub(crate) async fn wait_for_state(&self, state: &str, within: Duration) {
        let deadline = Instant::now() + within;
        let mut seen = String::new();
        while Instant::now() < deadline {
            if let Ok(main) = self.client.find(Locator::Css("main#checkout")).await
                && let Ok(Some(now)) = main.attr("data-state").await
            {
                if now == state {
                    return;
                }
                seen = now;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        let text = self.client.source().await.unwrap_or_default();
        panic!("the page did not reach {state:?} within {within:?} (it shows {seen:?}):\n{text}");
    }

    /// The text of the element `css`.
    pub(crate) async fn text(&self, css: &str) -> String {
        self.client.find(Locator::Css(css)).await.unwrap_or_else(|e| panic!("no {css}: {e}")).text().await.unwrap()
    }

    /// An attribute of the element `css`.
    pub(crate) async fn attr(&self, css: &str, name: &str) -> Option<String> {
        self.client.find(Locator::Css(css)).await.unwrap().attr(name).await.unwrap()
    }

    /// Runs `script` in the page (JavaScript on only).
    pub(crate) async fn eval(&self, script: &str) -> Value {
        self.client.execute(script, Vec::new()).await.unwrap()
    }

    /// A PNG of the element `css`. The event stream may swap the element
    /// for a fresh copy between finding and shooting it (a stale element):
    /// then it is found again.
    pub(crate) async fn screenshot(&self, css: &str) -> Vec<u8> {
        let mut tries = 0;
        loop {
            let shot = match self.client.find(Locator::Css(css)).await {
                Ok(element) => element.screenshot().await,
                Err(e) => Err(e),
            };
            match shot {
                Ok(png) => return png,
                Err(fantoccini::error::CmdError::Standard(e))
                    if e.error == fantoccini::error::ErrorStatus::StaleElementReference && tries < 20 =>
                {
                    tries += 1;
                    tokio::time::sleep(Duration::from_millis(50)).await;
                }
                Err(e) => panic!("no screenshot of {css}: {e}"),
            }
        }
    }

    /// A PNG of the whole window.
    pub(crate) async fn screenshot_page(&self) -> Vec<u8> {
        self.client.screenshot().await.unwrap()
    }
}

/// The text of the one QR code in `png`, read by rqrr.
pub(crate) fn decode_qr(png_bytes: &[u8]) -> String {
    let decoder = png::Decoder::new(std::io::Cursor::new(png_bytes));
    let mut reader = decoder.read_info().unwrap();
    let mut pixels = vec![0; reader.output_buffer_size().unwrap()];
    let frame = reader.next_frame(&mut pixels).unwrap();
    let channels = frame.color_type.samples();
    let (width, height) = (frame.width as usize, frame.height as usize);
    let luma = |x: usize, y: usize| {
        let i = (y * width + x) * channels;
        let px = &pixels[i..i + channels.min(3)];
        (px.iter().map(|&v| u32::from(v)).sum::<u32>() / px.len() as u32) as u8
    };
    let mut image = rqrr::PreparedImage::prepare_from_greyscale(width, height, luma);
    let grids = image.detect_grids();
    assert_eq!(grids.len(), 1, "one QR code in the picture, found {}", grids.len());
    grids[0].decode().unwrap().1
}

/// Saves a screenshot for the README under `docs/screenshots/` when
/// `COFFER_UPDATE_SCREENSHOTS=1`, and under the test's target directory
/// always (for a look after a failure).
pub(crate) fn keep_screenshot(name: &str, png_bytes: &[u8]) {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    let scratch = root.join("target/screenshots");
    std::fs::create_dir_all(&scratch).unwrap();
    std::fs::write(scratch.join(name), png_bytes).unwrap();
    if std::env::var("COFFER_UPDATE_SCREENSHOTS").as_deref() == Ok("1") {
        let docs = root.join("docs/screenshots");
        std::fs::create_dir_all(&docs).unwrap();
        std::fs::write(docs.join(name), png_bytes).unwrap();
    }
}
