//! `vigie report` writes one self-contained page with every section of the
//! model card and its plots as inline SVG; headless Chromium renders it,
//! and the screenshot shows the plots (coloured pixels) down the page.
//! Chromium comes from Debian's `chromium` package, which `./test.sh`
//! installs; without it the rendering part says so and is skipped.

mod common;
use common::{chromium, repo, s, scratch, succeeds, train_bundled};
use std::process::Command;

const SECTIONS: [&str; 11] = [
    "memory",
    "data",
    "quality",
    "search",
    "learning",
    "metrics",
    "confusion",
    "groups",
    "reliability",
    "importance",
    "monitor",
];
/// Window of the screenshot, in CSS pixels.
const SHOT: (u32, u32) = (1100, 4800);

/// The `px…` text labels of an SVG section, in order.
fn labels(html: &str) -> Vec<&str> {
    html.split("<text")
        .skip(1)
        .filter_map(|t| t.split_once('>').map(|(_, rest)| rest))
        .filter_map(|t| t.split_once('<').map(|(label, _)| label.trim()))
        .filter(|l| l.starts_with("px"))
        .collect()
}

/// One section's HTML.
fn section<'h>(html: &'h str, id: &str) -> &'h str {
    let start = html.find(&format!("<section id=\"{id}\">")).unwrap();
    let end = html[start..].find("</section>").unwrap();
    &html[start..start + end]
}

#[test]
fn report_has_every_section_and_renders_in_headless_chromium() {
    let dir = scratch("report");
    let page = dir.join("report.html");
    let model = dir.join("digits.vigie");
    let digits = repo("data/digits.csv");
    train_bundled("digits.csv", "digit", &model, &["--quiet"]);
    succeeds(&[
        "report",
        "--model",
        s(&model),
        "--data",
        &digits,
        "--out",
        s(&page),
    ]);
    let html = std::fs::read_to_string(&page).unwrap();
    for s in SECTIONS {
        assert!(
            html.contains(&format!("<section id=\"{s}\">")),
            "section {s} missing"
        );
    }
    // The search plot, learning curves, reliability, importance, and one
    // histogram per monitored input shown (24 of 64).
    assert_eq!(html.matches("<svg").count(), 4 + 24);
    // The search plot draws every trial and marks the chosen one.
    let search = section(&html, "search");
    let report = vigie_trainer::training_report::training_report(
        &vigie_core::Model::from_bytes(&std::fs::read(&model).unwrap()).unwrap(),
    )
    .unwrap();
    let trace = report.search.expect("a search ran: no --config");
    assert!(search.contains("chosen"), "no chosen mark");
    assert!(
        search.matches("<circle").count() > trace.trials.len(),
        "a trial is not drawn"
    );
    assert!(search.contains("majority class") && search.contains("logistic regression"));
    // Self-contained: nothing is fetched.
    assert!(!html.contains("src=\"http") && !html.contains("href=\"http"));
    // The digits model's figures are on the page.
    let int8 = match &report.test {
        vigie_trainer::training_report::TestMetrics::Classification { int8, .. } => int8.accuracy,
        other => panic!("{other:?}"),
    };
    assert!(int8 > 0.95, "{int8}");
    assert!(
        html.contains(&format!("{int8:.4}")),
        "int8 accuracy {int8:.4} missing"
    );
    // The page leads with what the device holds.
    let order: Vec<usize> = SECTIONS
        .iter()
        .map(|s| html.find(&format!("<section id=\"{s}\">")).unwrap())
        .collect();
    assert!(
        order.windows(2).all(|w| w[0] < w[1]),
        "sections out of order"
    );
    assert!(html.contains("on the device: model (flash, stripped copy)"));
    // Every importance bar has its label: the 20 inputs shown are named.
    let importance = section(&html, "importance");
    let shown = labels(importance);
    assert_eq!(shown.len(), 20, "{shown:?}");
    // The reliability diagram counts each bin's rows.
    let reliability = section(&html, "reliability");
    let counts: usize = reliability
        .match_indices("n=")
        .map(|(i, _)| {
            reliability[i + 2..]
                .chars()
                .take_while(char::is_ascii_digit)
                .collect::<String>()
                .parse::<usize>()
                .unwrap()
        })
        .sum();
    assert_eq!(counts, 359, "bin counts add up to the test rows");
    let bins = reliability.matches("n=").count();
    // No meaningless rows: this model has no precision target.
    assert!(!html.contains("Abstains below probability 0.0000"));
    assert!(html.contains("It never abstains"));

    let Some(browser) = chromium() else {
        eprintln!("SKIPPED rendering: no chromium (apt-get install chromium)");
        return;
    };
    let url = format!("file://{}", page.display());
    let dom = Command::new(browser)
        .args(["--headless", "--no-sandbox", "--disable-gpu", "--dump-dom"])
        .arg(&url)
        .output()
        .unwrap();
    let dom = String::from_utf8_lossy(&dom.stdout);
    for s in SECTIONS {
        assert!(
            dom.contains(&format!("id=\"{s}\"")),
            "rendered DOM lacks section {s}"
        );
    }
    assert_eq!(dom.matches("<svg").count(), 4 + 24);
    assert!(section(&dom, "search").contains("chosen"));
    // The rendered page carries the new labels and counts too.
    assert_eq!(labels(section(&dom, "importance")), shown);
    assert_eq!(section(&dom, "reliability").matches("n=").count(), bins);

    let shot = dir.join("report.png");
    let o = Command::new(browser)
        .args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--hide-scrollbars",
        ])
        .arg(format!("--window-size={},{}", SHOT.0, SHOT.1))
        .arg(format!("--screenshot={}", shot.display()))
        .arg(&url)
        .output()
        .unwrap();
    assert!(
        shot.exists(),
        "no screenshot: {}",
        String::from_utf8_lossy(&o.stderr)
    );
    let decoder = png::Decoder::new(std::io::BufReader::new(std::fs::File::open(&shot).unwrap()));
    let mut reader = decoder.read_info().unwrap();
    let mut buf = vec![0; reader.output_buffer_size()];
    let info = reader.next_frame(&mut buf).unwrap();
    assert_eq!((info.width, info.height), SHOT);
    let channels = info.line_size / info.width as usize;
    // Rows with something drawn, and rows with colour (the plots' lines,
    // bars and the confusion matrix's blue cells).
    let (mut inked, mut coloured) = (0, 0);
    for y in 0..info.height as usize {
        let line = &buf[y * info.line_size..(y + 1) * info.line_size];
        let px = line.chunks(channels);
        let (mut ink, mut colour) = (false, false);
        for p in px {
            let (r, g, b) = (p[0] as i32, p[1] as i32, p[2] as i32);
            ink |= r < 200 || g < 200 || b < 200;
            colour |= (r - b).abs() > 60 || (g - b).abs() > 60 || (r - g).abs() > 60;
        }
        inked += usize::from(ink);
        coloured += usize::from(colour);
    }
    eprintln!(
        "screenshot {}: {inked} of {} rows drawn on, {coloured} with colour",
        shot.display(),
        SHOT.1
    );
    assert!(inked > SHOT.1 as usize / 2, "{inked} rows drawn on");
    assert!(coloured > 600, "{coloured} rows with colour");
}
