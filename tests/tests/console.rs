//! The web console (issue 15) in a real headless Chromium driven through
//! WebDriver (`evident_e2e::webdriver`), against a real `serve` over HTTPS
//! with its generated CA: sign in per role, walk every page (saving a
//! screenshot of each under `target/console-screenshots/`), acknowledge an
//! alert as operator, be refused as auditor, CSRF refusals, session expiry
//! on the fake clock, and a host name holding `<script>` shown as text.
//! Fails (never skips) without chromium and chromedriver.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use evident_e2e::webdriver::{Browser, Driver};
use evident_e2e::{collect, fixture_root, request, Agent, Backend, Server};
use serde_json::{json, Value};
use std::path::PathBuf;

const EVIL: &str = "<script>window.__xss=1</script>evil";

fn shots_dir() -> PathBuf {
    let d = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../target/console-screenshots");
    std::fs::create_dir_all(&d).unwrap();
    d
}

/// A client that does not follow redirects (to see 303s and cookies).
fn raw_client(server: &Server) -> reqwest::Client {
    let pem = std::fs::read(server.dir.path().join("ca.pem")).unwrap();
    reqwest::Client::builder()
        .use_preconfigured_tls(evident_collector::tls::client_config(&pem).unwrap())
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap()
}

/// Sign in over HTTP; the session cookie pair `name=value`.
async fn http_signin(server: &Server, c: &reqwest::Client, token: &str) -> String {
    let r = c
        .post(format!("{}/signin", server.url))
        .header("Origin", &server.url)
        .form(&[("token", token)])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 303);
    let set = r
        .headers()
        .get("set-cookie")
        .unwrap()
        .to_str()
        .unwrap()
        .to_string();
    for attr in [
        "HttpOnly",
        "Secure",
        "SameSite=Strict",
        "Path=/",
        "Max-Age=",
    ] {
        assert!(set.contains(attr), "{attr} missing from {set}");
    }
    assert!(set.starts_with("__Host-evident_session="));
    set.split(';').next().unwrap().to_string()
}

/// The CSRF token in a page's forms.
fn csrf_of(html: &str) -> String {
    let i = html.find("name=\"csrf\" value=\"").unwrap() + "name=\"csrf\" value=\"".len();
    html[i..i + 64].to_string()
}

async fn browser_signin(b: &Browser, url: &str, token: &str) {
    b.goto(&format!("{url}/signin")).await;
    let field = b.find("#token").await;
    b.send_keys(&field, token).await;
    let button = b.find("form.signin button").await;
    b.click(&button).await;
    let now = wait_url(b, &format!("{url}/")).await;
    if now != format!("{url}/") {
        let src = b.source().await;
        panic!(
            "sign-in did not land on the fleet but on {now}: {}",
            &src[..src.len().min(3000)]
        );
    }
}

/// Wait (up to 15 s: a click's navigation may still be under way on a
/// busy machine) for the browser to be at `want`; its URL then.
async fn wait_url(b: &Browser, want: &str) -> String {
    wait_url_where(b, |u| u == want).await
}

/// Wait (up to 15 s) for the browser's URL to satisfy `ok`; its URL then.
async fn wait_url_where(b: &Browser, ok: impl Fn(&str) -> bool) -> String {
    for _ in 0..150 {
        let now = b.current_url().await;
        if ok(&now) {
            return now;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    b.current_url().await
}

async fn shot(b: &Browser, name: &str) {
    let png = b.full_screenshot(4000).await;
    assert!(png.starts_with(b"\x89PNG"), "{name}: not a PNG");
    std::fs::write(shots_dir().join(format!("{name}.png")), png).unwrap();
    // What a viewer sees first (docs/img/console-*.png are copies of these).
    let top = b.screenshot().await;
    std::fs::write(shots_dir().join(format!("{name}-top.png")), top).unwrap();
}

/// No script but the console's own ran or exists, and the host name is text.
async fn no_injected_script(b: &Browser, page: &str) {
    let v = b
        .execute(
            "return [window.__xss === undefined, Array.from(document.scripts).map(s => s.src)];",
            json!([]),
        )
        .await;
    assert_eq!(v[0], true, "{page}: an injected script ran");
    let srcs: Vec<String> = v[1]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s.as_str().unwrap().to_string())
        .collect();
    assert_eq!(srcs.len(), 1, "{page}: scripts {srcs:?}");
    assert!(
        srcs[0].ends_with("/console/assets/console.js"),
        "{page}: {srcs:?}"
    );
}

async fn post_ingest(server: &Server, agent: &mut Agent, host: &str) {
    let run = collect(fixture_root(host).path());
    let (env, _) = agent.sign_next(&run);
    let r = server.post(&request(&env, &run, true)).await;
    assert_eq!(r.status().as_u16(), 201, "ingest for {host}");
}

#[tokio::test(flavor = "multi_thread")]
async fn console_in_a_real_browser() {
    let tmp = tempfile::tempdir().unwrap();
    let clock = tmp.path().join("clock");
    // The collector's clock two minutes ahead of the agents': what they
    // send is in the past, so a report "as of today" includes it.
    let t0 = chrono::Utc::now().timestamp_millis() + 120_000;
    std::fs::write(&clock, t0.to_string()).unwrap();
    let clock_s = clock.display().to_string();
    let server = Server::start_with(
        Backend::Sqlite,
        &[],
        "",
        &[("EVIDENT_FAKE_CLOCK_FILE", clock_s.as_str())],
    )
    .await
    .unwrap();
    let url = server.url.clone();
    let auditor = server
        .cli(&[
            "api-token",
            "create",
            "--scope",
            "auditor",
            "--name",
            "audit-firm",
        ])
        .trim()
        .to_string();
    let operator = server
        .cli(&[
            "api-token",
            "create",
            "--scope",
            "operator",
            "--name",
            "oncall",
        ])
        .trim()
        .to_string();
    let metrics = server
        .cli(&["api-token", "create", "--scope", "metrics"])
        .trim()
        .to_string();
    let mut hosts = Vec::new();
    for name in ["web-1", "db-2", EVIL] {
        let mut a = Agent::new(name);
        a.enroll(&server).await;
        post_ingest(&server, &mut a, name).await;
        hosts.push(a);
    }
    let (st, alerts) = server.get("/v1/alerts?open=true").await;
    assert_eq!(st, 200);
    let open: Vec<i64> = alerts["alerts"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a["id"].as_i64().unwrap())
        .collect();
    assert!(
        !open.is_empty(),
        "the fixture hosts open baseline alerts: {alerts}"
    );

    // Plain HTTP checks first: headers, redirects, CSRF, roles.
    let c = raw_client(&server);
    let r = c.get(format!("{url}/")).send().await.unwrap();
    assert_eq!(
        r.status().as_u16(),
        303,
        "not signed in: to the sign-in page"
    );
    assert_eq!(r.headers()["location"], "/signin");
    let r = c.get(format!("{url}/signin")).send().await.unwrap();
    let csp = r.headers()["content-security-policy"]
        .to_str()
        .unwrap()
        .to_string();
    assert!(
        csp.contains("script-src 'self'") && csp.contains("frame-ancestors 'none'"),
        "{csp}"
    );
    assert!(!csp.contains("unsafe-inline"), "{csp}");
    assert_eq!(r.headers()["x-frame-options"], "DENY");
    assert_eq!(r.headers()["x-content-type-options"], "nosniff");
    assert_eq!(r.headers()["referrer-policy"], "same-origin");
    // A metrics token or a wrong one cannot sign in; a foreign origin cannot post the form.
    for bad in [metrics.as_str(), "evapi_auditor_nope"] {
        let r = c
            .post(format!("{url}/signin"))
            .header("Origin", &url)
            .form(&[("token", bad)])
            .send()
            .await
            .unwrap();
        assert_eq!(r.status().as_u16(), 403);
        assert!(r.headers().get("set-cookie").is_none());
    }
    let r = c
        .post(format!("{url}/signin"))
        .header("Origin", "https://evil.example")
        .form(&[("token", operator.as_str())])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 403, "cross-site sign-in");

    let op_cookie = http_signin(&server, &c, &operator).await;
    let page = c
        .get(format!("{url}/alerts"))
        .header("Cookie", &op_cookie)
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let csrf = csrf_of(&page);
    let ack = |id: i64, token: Option<&str>, origin: &str, cookie: &str| {
        let mut form = vec![("reason", "known: being fixed".to_string())];
        if let Some(t) = token {
            form.push(("csrf", t.to_string()));
        }
        c.post(format!("{url}/alerts/{id}/ack"))
            .header("Cookie", cookie.to_string())
            .header("Origin", origin.to_string())
            .form(&form)
            .send()
    };
    let target = open[0];
    assert_eq!(
        ack(target, None, &url, &op_cookie)
            .await
            .unwrap()
            .status()
            .as_u16(),
        403,
        "no CSRF token"
    );
    let wrong = "0".repeat(64);
    assert_eq!(
        ack(target, Some(&wrong), &url, &op_cookie)
            .await
            .unwrap()
            .status()
            .as_u16(),
        403,
        "wrong CSRF token"
    );
    assert_eq!(
        ack(target, Some(&csrf), "https://evil.example", &op_cookie)
            .await
            .unwrap()
            .status()
            .as_u16(),
        403,
        "right token, foreign Origin"
    );
    let (_, a) = server.get(&format!("/v1/alerts/{target}")).await;
    assert_eq!(
        a["state"], "open",
        "nothing was acknowledged by the refused posts"
    );
    // The auditor is read-only: 403 on any POST, even with its own token.
    let au_cookie = http_signin(&server, &c, &auditor).await;
    let au_page = c
        .get(format!("{url}/alerts"))
        .header("Cookie", &au_cookie)
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        !au_page.contains("/ack\""),
        "no acknowledge form for an auditor"
    );
    let au_csrf = csrf_of(&au_page);
    assert_eq!(
        ack(target, Some(&au_csrf), &url, &au_cookie)
            .await
            .unwrap()
            .status()
            .as_u16(),
        403
    );
    for path in ["/admin/tokens", &format!("/admin/agents/{}", hosts[0].id)] {
        let r = c
            .post(format!("{url}{path}"))
            .header("Cookie", &au_cookie)
            .header("Origin", &url)
            .form(&[("csrf", au_csrf.as_str()), ("status", "revoked")])
            .send()
            .await
            .unwrap();
        assert_eq!(r.status().as_u16(), 403, "auditor POST {path}");
    }
    let r = c
        .get(format!("{url}/admin"))
        .header("Cookie", &au_cookie)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 403, "auditor GET /admin");
    // One session's CSRF token is not another's.
    assert_eq!(
        ack(target, Some(&au_csrf), &url, &op_cookie)
            .await
            .unwrap()
            .status()
            .as_u16(),
        403
    );

    // The browser.
    let driver = Driver::start().await;
    let key = std::fs::read_to_string(server.dir.path().join("server.key")).unwrap();
    let spki = evident_collector::tls::spki_pin(&key).unwrap();
    let profile = tempfile::tempdir().unwrap();
    let b = driver.browser(&spki, profile.path()).await;
    b.goto(&format!("{url}/")).await;
    assert_eq!(b.current_url().await, format!("{url}/signin"));
    shot(&b, "signin").await;

    // Admin: every page.
    browser_signin(&b, &url, &server.admin_token).await;
    assert!(b.title().await.starts_with("Fleet"));
    let fleet = b.source().await;
    assert!(fleet.contains("A.8.5"), "the fleet lists Annex A controls");
    let rows = b.find_all("table.controls tbody tr").await;
    assert_eq!(rows.len(), 93, "every Annex A control");
    no_injected_script(&b, "fleet").await;
    shot(&b, "fleet").await;
    // Worst first: the first row's control has a failing host.
    let first = b.text(&rows[0]).await;
    assert!(
        first.contains("not-satisfied") || first.contains("partial"),
        "first row: {first}"
    );
    // Filters: severity critical narrows the list.
    b.goto(&format!("{url}/?severity=critical")).await;
    let n = b.find_all("table.controls tbody tr").await.len();
    assert!(n > 0 && n < 93, "severity filter gave {n} rows");
    b.goto(&format!("{url}/?framework=nist-csf-2.0")).await;
    assert!(b.find_all("table.controls tbody tr").await.len() < 93);
    // The fleet compared with a day (today: the live counts, so nothing
    // changed).
    let today = chrono::DateTime::from_timestamp_millis(t0)
        .unwrap()
        .format("%Y-%m-%d")
        .to_string();
    b.goto(&format!("{url}/?compare={today}")).await;
    let src = b.source().await;
    assert!(src.contains("Compared with"), "compare notice");
    let cells = b.find_all("table.controls tbody tr td:last-child").await;
    assert_eq!(cells.len(), 93);
    let first = b.text(&cells[0]).await;
    assert_eq!(first, "no change");
    shot(&b, "fleet-compare").await;

    let ctl = b.find("main table tbody tr th a").await;
    let control_name = b.text(&ctl).await;
    b.goto(&format!("{url}/")).await;
    let ctl = b.find("main table tbody tr th a").await;
    b.click(&ctl).await;
    assert!(
        wait_url_where(&b, |u| u.contains("/controls/"))
            .await
            .contains("/controls/"),
        "control link"
    );
    let src = b.source().await;
    assert!(
        src.contains(&control_name) && src.contains("Hosts failing"),
        "control page lists failing hosts"
    );
    no_injected_script(&b, "control").await;
    shot(&b, "control").await;

    b.goto(&format!("{url}/matrix")).await;
    let cells = b.find_all("table.matrix tbody td").await;
    assert!(!cells.is_empty());
    let names: Vec<String> = {
        let mut v = Vec::new();
        for th in b.find_all("table.matrix tbody th").await {
            v.push(b.text(&th).await);
        }
        v
    };
    assert!(
        names.iter().any(|n| n == EVIL),
        "the <script> host name is shown as text: {names:?}"
    );
    let src = b.source().await;
    assert!(
        src.contains("&lt;script&gt;window.__xss=1&lt;/script&gt;evil"),
        "escaped in the markup"
    );
    assert!(src.contains("title=\""), "failure reasons on hover");
    no_injected_script(&b, "matrix").await;
    shot(&b, "matrix").await;
    // Sorted by a rule: failing hosts first.
    let sort = b.find("table.matrix thead th:nth-child(2) a").await;
    b.click(&sort).await;
    assert!(wait_url_where(&b, |u| u.contains("sort="))
        .await
        .contains("sort="));

    let evil_id = hosts[2].id.clone();
    b.goto(&format!("{url}/hosts/{evil_id}")).await;
    let h1 = b.find("main h1").await;
    assert_eq!(b.text(&h1).await, format!("Host {EVIL}"));
    let src = b.source().await;
    assert!(
        src.contains("verified now against the agent"),
        "signature re-verified"
    );
    assert!(src.contains("intact"), "chain intact");
    assert!(src.contains("probe-sshd"), "probe data");
    no_injected_script(&b, "host").await;
    b.goto(&format!("{url}/hosts/{}", hosts[0].id)).await;
    shot(&b, "host").await;

    b.goto(&format!("{url}/alerts")).await;
    no_injected_script(&b, "alerts").await;
    shot(&b, "alerts").await;
    b.goto(&format!("{url}/review")).await;
    shot(&b, "review").await;
    // A report download is the review renderer's HTML.
    let r = c
        .get(format!(
            "{url}/review/download?kind=report&format=markdown&as_of={}",
            chrono::Utc::now().format("%Y-%m-%d")
        ))
        .header("Cookie", &op_cookie)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 200);
    assert!(r.headers()["content-disposition"]
        .to_str()
        .unwrap()
        .contains("attachment"));
    let md = r.text().await.unwrap();
    assert!(md.contains("A.8.5"), "report names controls");
    let r = c
        .get(format!(
            "{url}/review/download?kind=bundle&from={0}&to={0}",
            chrono::Utc::now().format("%Y-%m-%d")
        ))
        .header("Cookie", &op_cookie)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 200, "bundle download");
    let bundle = tmp.path().join("console.tar.zst");
    std::fs::write(&bundle, r.bytes().await.unwrap()).unwrap();
    let key_id = server.cli(&["key", "show"]);
    let _ = key_id;

    b.goto(&format!("{url}/admin")).await;
    no_injected_script(&b, "admin").await;
    let hours = b.find("input[name=hours]").await;
    let _ = hours;
    let create = b.find("form[action='/admin/tokens'] button").await;
    b.click(&create).await;
    let secret = b.find("p.secret").await;
    assert!(
        b.text(&secret).await.starts_with("evt_"),
        "the new enrollment token is shown once"
    );
    shot(&b, "admin").await;
    let out = b.find("form.signout button").await;
    b.click(&out).await;
    assert_eq!(
        wait_url(&b, &format!("{url}/signin")).await,
        format!("{url}/signin")
    );
    b.goto(&format!("{url}/alerts")).await;
    assert_eq!(b.current_url().await, format!("{url}/signin"), "signed out");

    // Operator: acknowledge with a reason.
    browser_signin(&b, &url, &operator).await;
    b.goto(&format!("{url}/alerts")).await;
    let field = b.find(&format!("#reason-{target}")).await;
    b.send_keys(&field, "ticket OPS-42: hardening rolled out this week")
        .await;
    let button = b.find(&format!("#alert-{target} form button")).await;
    b.click(&button).await;
    let acked = format!("acked={target}");
    assert!(wait_url_where(&b, |u| u.contains(&acked))
        .await
        .contains(&acked));
    let row = b.find(&format!("#alert-{target}")).await;
    let text = b.text(&row).await;
    assert!(
        text.contains("acknowledged") && text.contains("OPS-42") && text.contains("oncall"),
        "{text}"
    );
    let (_, a) = server.get(&format!("/v1/alerts/{target}")).await;
    assert_eq!(a["state"], "acknowledged");
    assert_eq!(
        a["ack_reason"],
        "ticket OPS-42: hardening rolled out this week"
    );
    shot(&b, "alerts-acknowledged").await;
    b.goto(&format!("{url}/admin")).await;
    assert!(
        b.source().await.contains("403"),
        "operator cannot open the admin page"
    );

    // Session expiry: 8 hours on the collector's clock.
    std::fs::write(&clock, (t0 + 8 * 3600 * 1000 - 1000).to_string()).unwrap();
    b.goto(&format!("{url}/alerts")).await;
    assert_eq!(
        b.current_url().await,
        format!("{url}/alerts"),
        "still signed in"
    );
    std::fs::write(&clock, (t0 + 8 * 3600 * 1000 + 1).to_string()).unwrap();
    b.goto(&format!("{url}/alerts")).await;
    assert_eq!(
        b.current_url().await,
        format!("{url}/signin"),
        "session expired"
    );
    let r = c
        .get(format!("{url}/"))
        .header("Cookie", &op_cookie)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 303, "the expired cookie is refused");
    // Expired sessions are deleted in the background on the collector's
    // clock, not only at the next sign-in (none has happened since).
    let db = format!(
        "sqlite://{}?mode=ro",
        server.dir.path().join("evident.db").display()
    );
    let mut left = -1;
    for _ in 0..100 {
        use sqlx::Connection as _;
        let mut conn = sqlx::SqliteConnection::connect(&db).await.unwrap();
        left = sqlx::query_scalar::<_, i64>("SELECT COUNT(*) FROM console_sessions")
            .fetch_one(&mut conn)
            .await
            .unwrap();
        conn.close().await.ok();
        if left == 0 {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    assert_eq!(left, 0, "expired sessions swept");

    // Auditor in the browser: read-only.
    browser_signin(&b, &url, &auditor).await;
    b.goto(&format!("{url}/alerts?state=all")).await;
    assert!(b.find_all("form.ack").await.is_empty());
    let src = b.source().await;
    assert!(src.contains("read-only"));
    b.close().await;
    let _: Value = json!(null);
    server.finish().await;
}

/// The console's SQL on both backends (no browser): every page answers,
/// `host_status` follows a change of status, the matrix and "hosts failing"
/// read it, and an acknowledgement goes through.
async fn pages_answer(backend: Backend) {
    // The collector's clock from a file, so that a download "as of today"
    // is as of a time the CLI can be given (set after the ingests).
    let tmp = tempfile::tempdir().unwrap();
    let clock = tmp.path().join("clock");
    let t0 = chrono::Utc::now().timestamp_millis();
    std::fs::write(&clock, t0.to_string()).unwrap();
    let clock_s = clock.display().to_string();
    let server = Server::start_with(
        backend,
        &[],
        "",
        &[("EVIDENT_FAKE_CLOCK_FILE", clock_s.as_str())],
    )
    .await
    .unwrap();
    let url = server.url.clone();
    let mut agents = Vec::new();
    for name in ["pg-web-1", "pg-db-2"] {
        let mut a = Agent::new(name);
        a.enroll(&server).await;
        post_ingest(&server, &mut a, name).await;
        agents.push(a);
    }
    // A change on one host: its sshd now permits root login.
    let root = fixture_root("pg-web-1");
    std::fs::write(
        root.path().join("etc/ssh/sshd_config"),
        "PermitRootLogin yes\nPasswordAuthentication no\nX11Forwarding no\n",
    )
    .unwrap();
    let run = collect(root.path());
    let (env, _) = agents[0].sign_next(&run);
    assert_eq!(
        server
            .post(&request(&env, &run, true))
            .await
            .status()
            .as_u16(),
        201
    );

    let t0 = chrono::Utc::now().timestamp_millis();
    std::fs::write(&clock, t0.to_string()).unwrap();
    let c = raw_client(&server);
    let cookie = http_signin(&server, &c, &server.admin_token).await;
    let get = |path: String| {
        let c = c.clone();
        let cookie = cookie.clone();
        let url = url.clone();
        async move {
            let r = c
                .get(format!("{url}{path}"))
                .header("Cookie", cookie)
                .send()
                .await
                .unwrap();
            let st = r.status().as_u16();
            (st, r.text().await.unwrap())
        }
    };
    let today = chrono::DateTime::from_timestamp_millis(t0)
        .unwrap()
        .format("%Y-%m-%d")
        .to_string();
    for path in [
        "/".to_string(),
        "/?policy=linux-baseline&severity=high".into(),
        format!("/?as_of={today}&compare={today}"),
        "/matrix".into(),
        "/matrix?policy=linux-baseline&sort=host&dir=desc".into(),
        "/alerts".into(),
        "/alerts?state=all".into(),
        "/alerts?state=open&kind=drift&host=pg-web-1".into(),
        "/review".into(),
        "/admin".into(),
    ] {
        let (st, body) = get(path.clone()).await;
        assert_eq!(st, 200, "{path}: {body}");
    }
    let (st, _) = get("/?as_of=2999-01-01".into()).await;
    assert_eq!(st, 400, "an as-of date after today");
    let (_, fleet) = get(format!("/?compare={today}")).await;
    assert!(
        fleet.contains("no change"),
        "compared with today: nothing changed"
    );
    // The alerts page keeps its filters across tabs and pages, and counts.
    let (_, alerts) = get("/alerts?state=all&kind=drift".into()).await;
    assert!(
        alerts.contains("/alerts?state=open&amp;kind=drift"),
        "tabs keep the kind filter"
    );
    assert!(alerts.contains("Open ("), "per-state counts on the tabs");
    // The matrix pages from a cursor: one page here; the page before the
    // last host (pg-web-1, by name) holds the first.
    let (_, m) = get("/matrix?policy=linux-baseline&sort=host".into()).await;
    assert!(m.contains("Hosts 1–2 of 2 active"), "position shown");
    assert!(!m.contains("rel=\"next\""), "one page only");
    let (st, m) = get(format!(
        "/matrix?policy=linux-baseline&sort=host&ar=0&ah=pg-web-1&ai={}&back=1&n=2",
        agents[0].id
    ))
    .await;
    assert_eq!(st, 200);
    assert!(
        m.contains(">pg-db-2<") && !m.contains(">pg-web-1<"),
        "the page before pg-web-1"
    );
    downloads_equal_the_cli(&server, &get, t0, &today).await;
    let (st, control) = get("/controls/A.8.5".into()).await;
    assert_eq!(st, 200);
    let i = control.find("ssh.root-login").unwrap();
    let section = &control[i..];
    let end = section.find("</section>").unwrap();
    assert!(
        section[..end].contains("pg-web-1"),
        "the host failing ssh.root-login is listed"
    );
    assert!(
        !section[..end].contains("pg-db-2"),
        "the passing host is not"
    );
    let (_, matrix) = get("/matrix?policy=linux-baseline&sort=ssh.root-login".into()).await;
    let web = matrix.find(">pg-web-1<").unwrap();
    let db = matrix.find(">pg-db-2<").unwrap();
    assert!(web < db, "sorted by ssh.root-login: the failing host first");
    let (st, host) = get(format!("/hosts/{}", agents[0].id)).await;
    assert_eq!(st, 200);
    assert!(
        host.contains("PermitRootLogin") || host.contains("permitrootlogin"),
        "probe data shown"
    );
    assert!(host.contains("ssh.root-login"));
    let (st, _) = get("/controls/A.99".into()).await;
    assert_eq!(st, 404);
    let (st, _) = get("/hosts/agt_nope".into()).await;
    assert_eq!(st, 404);
    server.finish().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn console_pages_answer_on_sqlite() {
    pages_answer(Backend::Sqlite).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn console_pages_answer_on_postgres() {
    pages_answer(Backend::Postgres).await;
}

/// Review downloads are the CLI's bytes: the report and the SoA as of a
/// date, the comparison of two dates, and the bundle's members (all but
/// the manifest, whose creation time differs); the bundle verifies.
async fn downloads_equal_the_cli<F, Fut>(server: &Server, get: &F, t0: i64, today: &str)
where
    F: Fn(String) -> Fut,
    Fut: std::future::Future<Output = (u16, String)>,
{
    let end_of_today = chrono::NaiveDate::parse_from_str(today, "%Y-%m-%d")
        .unwrap()
        .and_hms_milli_opt(23, 59, 59, 999)
        .unwrap()
        .and_utc()
        .timestamp_millis();
    let as_of = chrono::DateTime::from_timestamp_millis(t0.min(end_of_today))
        .unwrap()
        .to_rfc3339_opts(chrono::SecondsFormat::Millis, true);
    for kind in ["report", "soa"] {
        for fmt in ["markdown", "json"] {
            let (st, body) = get(format!(
                "/review/download?kind={kind}&format={fmt}&as_of={today}"
            ))
            .await;
            assert_eq!(st, 200, "{kind} {fmt}: {body}");
            let cli = server.cli(&[kind, "--as-of", &as_of, "--format", fmt]);
            assert_eq!(
                body, cli,
                "{kind} --format {fmt}: the console's download is the CLI's"
            );
        }
    }
    let (st, body) = get(format!(
        "/review/download?kind=compare&format=markdown&from={today}&to={today}"
    ))
    .await;
    assert_eq!(st, 200, "{body}");
    let cli = server.cli(&[
        "report",
        "--compare",
        &as_of,
        &as_of,
        "--format",
        "markdown",
    ]);
    assert_eq!(body, cli, "compare");
    let (st, body) = get("/review/download?kind=report&as_of=1999-01-01".into()).await;
    assert_eq!(st, 400, "before the first evidence: {body}");
    assert!(body.contains("before the first evidence"), "{body}");

    // The bundle, streamed from its file.
    let c = raw_client(server);
    let cookie = http_signin(server, &c, &server.admin_token).await;
    let r = c
        .get(format!(
            "{}/review/download?kind=bundle&from={today}&to={today}",
            server.url
        ))
        .header("Cookie", cookie)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 200);
    let len: u64 = r.headers()["content-length"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    let bytes = r.bytes().await.unwrap();
    assert_eq!(bytes.len() as u64, len);
    let dir = server.dir.path();
    let console = dir.join("console.bundle");
    std::fs::write(&console, &bytes).unwrap();
    let cli = dir.join("cli.bundle");
    let cli_s = cli.to_string_lossy().into_owned();
    server.cli(&["export", "--since", today, "--until", today, "-o", &cli_s]);
    let key_id = evident_collector::review::collector_signer(dir)
        .unwrap()
        .key_id()
        .to_string();
    let out = std::process::Command::new(evident_e2e::bin("evident-collector"))
        .arg("verify")
        .arg(&console)
        .args(["--trust", &key_id])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "the console's bundle verifies: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    let mut a = evident_collector::review::read_bundle(&console).unwrap();
    let mut b = evident_collector::review::read_bundle(&cli).unwrap();
    for m in [&mut a, &mut b] {
        m.remove(evident_core::bundle::MANIFEST_PATH);
    }
    assert!(
        a.keys().any(|k| k.starts_with("envelopes/")),
        "{:?}",
        a.keys()
    );
    assert_eq!(a.keys().collect::<Vec<_>>(), b.keys().collect::<Vec<_>>());
    assert!(a == b, "the same members as `export`");
}
