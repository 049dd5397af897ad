//! A deterministic corpus of OpenTelemetry traces for the trace store's
//! benchmarks, shaped like the OpenTelemetry demo shop: ten services in eight
//! languages, each with its SDK's resource and instrumentation scopes,
//! calling each other over HTTP and reading PostgreSQL and Redis.
//!
//! Every service entry is an HTTP `SERVER` span; every call between services
//! is a `CLIENT` span in the caller whose `SERVER` child runs in the callee;
//! database calls are `CLIENT` spans with `db.*` attributes. Attributes follow
//! what the real instrumentations emit (`http.request.method`, `url.full`,
//! `http.route`, `db.statement`, …) plus the demo's `app.*` attributes, with
//! their high-cardinality values (user, order, product and transaction ids).
//! About 1–3% of spans fail (database timeouts, card declines, crashes), with
//! an `exception` event carrying a stack trace in the service's language, and
//! failures travel up the call tree the way the services handle them.
//!
//! Traces have 5–200 spans (median 17, 89% at most 30, a tail past 150 from
//! carts and orders of many items), about 390 bytes of OTLP protobuf a span.
//! About 2.5% of orders are slow (a slow payment gateway, a lock wait on the
//! orders table), so [`SEARCH_QUERY`] matches about 0.2% of traces, which the
//! corpus counts itself ([`TraceCorpus::matching_within`]).
//!
//! Traces are spread evenly over the caller's time range, in time order, and
//! no trace crosses a whole number of hours before its end (see
//! [`TraceCorpus::new`]), so a search over the last hours has one right
//! answer whatever rule a store uses for traces at a window's edge.

use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
use opentelemetry_proto::tonic::common::v1::{any_value, AnyValue, InstrumentationScope, KeyValue};
use opentelemetry_proto::tonic::resource::v1::Resource;
use opentelemetry_proto::tonic::trace::v1::{
    span, status, ResourceSpans, ScopeSpans, Span, Status,
};
use prost::Message;

use crate::log_corpus::Rng;

pub const HOUR_NS: i64 = 3_600_000_000_000;
const MS: i64 = 1_000_000;

/// The benchmark's TraceQL search; the corpus counts its matches.
pub const SEARCH_QUERY: &str = r#"{ resource.service.name = "checkout" && duration > 500ms }"#;
/// What [`SEARCH_QUERY`] selects: spans of this service…
pub const SEARCH_SERVICE: &str = "checkout";
/// …lasting strictly longer than this.
pub const SEARCH_MIN_DURATION_NS: i64 = 500 * MS;
pub const MAX_SPANS_PER_TRACE: usize = 200;
/// No span comes closer than this to a cut (see [`TraceCorpus::new`]).
const CUT_MARGIN_NS: i64 = MS;

/// The services, in the order of [`SERVICES`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Svc {
    Frontend,
    Checkout,
    Cart,
    Payment,
    Shipping,
    Currency,
    Email,
    Recommendation,
    Ad,
    ProductCatalog,
}

/// What an SDK and its instrumentations look like in one language.
struct Lang {
    language: &'static str,
    sdk_version: &'static str,
    /// Instrumentation scopes (name, version) of HTTP servers, HTTP
    /// clients, PostgreSQL and Redis clients.
    server: (&'static str, &'static str),
    client: (&'static str, &'static str),
    postgres: (&'static str, &'static str),
    redis: (&'static str, &'static str),
    /// `user_agent.original` of its HTTP client.
    user_agent: &'static str,
    /// `exception.type` of a database error, a cache error and any other.
    errors: [&'static str; 3],
    /// An `exception.stacktrace`, with `{type}` and `{msg}` to fill in.
    stack: &'static str,
}

const NODE: Lang = Lang {
    language: "nodejs",
    sdk_version: "1.25.1",
    server: ("@opentelemetry/instrumentation-http", "0.52.1"),
    client: ("@opentelemetry/instrumentation-http", "0.52.1"),
    postgres: ("@opentelemetry/instrumentation-pg", "0.43.0"),
    redis: ("@opentelemetry/instrumentation-ioredis", "0.42.0"),
    user_agent: "node",
    errors: ["DatabaseError", "ReplyError", "Error"],
    stack: "{type}: {msg}\n    at Parser.parseErrorMessage (/app/node_modules/pg-protocol/dist/parser.js:283:98)\n    at Parser.handlePacket (/app/node_modules/pg-protocol/dist/parser.js:122:29)\n    at Object.charge (/app/charge.js:37:13)\n    at async /app/index.js:24:20\n    at process.processTicksAndRejections (node:internal/process/task_queues:95:5)",
};
const GO: Lang = Lang {
    language: "go",
    sdk_version: "1.28.0",
    server: (
        "go.opentelemetry.io/contrib/instrumentation/net/http/otelhttp",
        "0.53.0",
    ),
    client: (
        "go.opentelemetry.io/contrib/instrumentation/net/http/otelhttp",
        "0.53.0",
    ),
    postgres: ("github.com/exaring/otelpgx", "0.6.2"),
    redis: ("github.com/redis/go-redis/extra/redisotel", "9.5.1"),
    user_agent: "Go-http-client/1.1",
    errors: ["*pgconn.PgError", "*net.OpError", "*errors.errorString"],
    stack: "{type}: {msg}\n\ngoroutine 4172 [running]:\nmain.(*server).handle(0xc0001b4000, {0x1a2f3e0, 0xc0004e8a50}, 0xc000512b40)\n\t/usr/src/app/main.go:312 +0x6c5\nnet/http.HandlerFunc.ServeHTTP(0xc000196d80, {0x1a2f3e0, 0xc0004e8a50}, 0xc000512b40)\n\t/usr/local/go/src/net/http/server.go:2171 +0x29\ngo.opentelemetry.io/contrib/instrumentation/net/http/otelhttp.(*middleware).serveHTTP(0xc0001c2000, {0x1a2f5c0, 0xc0004f0000}, 0xc000512a20, {0x1a21b40, 0xc000196d80})\n\t/go/pkg/mod/go.opentelemetry.io/contrib/instrumentation/net/http/otelhttp@v0.53.0/handler.go:218 +0x1202\nnet/http.(*conn).serve(0xc0002a8000, {0x1a30a28, 0xc00018e5a0})\n\t/usr/local/go/src/net/http/server.go:2039 +0x5a5",
};
const DOTNET: Lang = Lang {
    language: "dotnet",
    sdk_version: "1.9.0",
    server: ("Microsoft.AspNetCore", ""),
    client: ("System.Net.Http", ""),
    postgres: ("Npgsql", "8.0.3"),
    redis: ("OpenTelemetry.Instrumentation.StackExchangeRedis", "1.0.0-rc9.15"),
    user_agent: "dotnet-httpclient/8.0",
    errors: [
        "Npgsql.PostgresException",
        "StackExchange.Redis.RedisTimeoutException",
        "System.InvalidOperationException",
    ],
    stack: "{type}: {msg}\n   at cart.cartstore.ValkeyCartStore.GetCartAsync(String userId) in /src/cart/src/cartstore/ValkeyCartStore.cs:line 220\n   at cart.services.CartService.GetCart(GetCartRequest request) in /src/cart/src/services/CartService.cs:line 43\n   at Microsoft.AspNetCore.Routing.EndpointMiddleware.<Invoke>g__AwaitRequestTask|7_0(Endpoint endpoint, Task requestTask, ILogger logger)\n   at Microsoft.AspNetCore.Server.Kestrel.Core.Internal.Http.HttpProtocol.ProcessRequests[TContext](IHttpApplication`1 application)",
};
const RUST: Lang = Lang {
    language: "rust",
    sdk_version: "0.24.1",
    server: ("actix-web-opentelemetry", "0.19.0"),
    client: ("reqwest-tracing", "0.5.3"),
    postgres: ("sqlx", "0.8.0"),
    redis: ("redis", "0.26.1"),
    user_agent: "reqwest/0.12.5",
    errors: ["sqlx_core::error::Error", "redis::RedisError", "anyhow::Error"],
    stack: "{type}: {msg}\n   0: shipping::shipping_service::quote::create_quote_from_count\n             at ./src/shipping_service/quote.rs:41:9\n   1: shipping::shipping_service::get_quote::{{closure}}\n             at ./src/shipping_service.rs:62:22\n   2: actix_web::handler::handler_service::{{closure}}::{{closure}}\n             at /usr/local/cargo/registry/src/index.crates.io-6f17d22bba15001f/actix-web-4.8.0/src/handler.rs:104:21\n   3: tokio::runtime::task::core::Core<T,S>::poll\n             at /usr/local/cargo/registry/src/index.crates.io-6f17d22bba15001f/tokio-1.38.0/src/runtime/task/core.rs:328:17",
};
const CPP: Lang = Lang {
    language: "cpp",
    sdk_version: "1.16.0",
    server: ("currency", "1.4.0"),
    client: ("currency", "1.4.0"),
    postgres: ("currency", "1.4.0"),
    redis: ("currency", "1.4.0"),
    user_agent: "libcurl/8.5.0",
    errors: [
        "std::runtime_error",
        "sw::redis::TimeoutError",
        "std::runtime_error",
    ],
    stack: "{type}: {msg}\n#0 0x55d4c1a2b3f4 in CurrencyService::Convert(Request const&) /currency/src/server.cpp:142\n#1 0x55d4c1a2c812 in HttpServer::dispatch(Request const&) /currency/src/http_server.cpp:88\n#2 0x7f3a8e2d1ac3 in start_thread (/lib/x86_64-linux-gnu/libc.so.6+0x94ac3)",
};
const RUBY: Lang = Lang {
    language: "ruby",
    sdk_version: "1.5.0",
    server: ("OpenTelemetry::Instrumentation::Rack", "0.24.6"),
    client: ("OpenTelemetry::Instrumentation::Net::HTTP", "0.22.7"),
    postgres: ("OpenTelemetry::Instrumentation::PG", "0.27.4"),
    redis: ("OpenTelemetry::Instrumentation::Redis", "0.25.7"),
    user_agent: "Ruby",
    errors: ["PG::QueryCanceled", "Redis::TimeoutError", "Net::ReadTimeout"],
    stack: "/email_server.rb:38:in `send_email': {msg} ({type})\n\tfrom /usr/local/bundle/gems/sinatra-4.0.0/lib/sinatra/base.rb:1713:in `block in compile!'\n\tfrom /usr/local/bundle/gems/sinatra-4.0.0/lib/sinatra/base.rb:1099:in `block (3 levels) in route!'\n\tfrom /usr/local/bundle/gems/sinatra-4.0.0/lib/sinatra/base.rb:1118:in `route_eval'\n\tfrom /usr/local/bundle/gems/rack-3.1.7/lib/rack/builder.rb:277:in `call'",
};
const PYTHON: Lang = Lang {
    language: "python",
    sdk_version: "1.26.0",
    server: ("opentelemetry.instrumentation.flask", "0.47b0"),
    client: ("opentelemetry.instrumentation.requests", "0.47b0"),
    postgres: ("opentelemetry.instrumentation.psycopg2", "0.47b0"),
    redis: ("opentelemetry.instrumentation.redis", "0.47b0"),
    user_agent: "python-requests/2.32.3",
    errors: [
        "psycopg2.errors.QueryCanceled",
        "redis.exceptions.TimeoutError",
        "RuntimeError",
    ],
    stack: "Traceback (most recent call last):\n  File \"/usr/local/lib/python3.12/site-packages/flask/app.py\", line 880, in full_dispatch_request\n    rv = self.dispatch_request()\n  File \"/app/recommendation_server.py\", line 74, in list_recommendations\n    prod_list = get_product_list(request_product_ids)\n  File \"/app/recommendation_server.py\", line 112, in get_product_list\n    raise err\n{type}: {msg}",
};
const JAVA: Lang = Lang {
    language: "java",
    sdk_version: "1.40.0",
    server: ("io.opentelemetry.tomcat-10.0", "2.6.0-alpha"),
    client: ("io.opentelemetry.java-http-client", "2.6.0-alpha"),
    postgres: ("io.opentelemetry.jdbc", "2.6.0-alpha"),
    redis: ("io.opentelemetry.lettuce-5.1", "2.6.0-alpha"),
    user_agent: "Java-http-client/21.0.3",
    errors: [
        "org.postgresql.util.PSQLException",
        "io.lettuce.core.RedisCommandTimeoutException",
        "java.lang.IllegalStateException",
    ],
    stack: "{type}: {msg}\n\tat oteldemo.AdService.getAds(AdService.java:211)\n\tat oteldemo.AdController.ads(AdController.java:58)\n\tat java.base/jdk.internal.reflect.DirectMethodHandleAccessor.invoke(DirectMethodHandleAccessor.java:103)\n\tat org.springframework.web.servlet.FrameworkServlet.service(FrameworkServlet.java:885)\n\tat org.apache.catalina.core.ApplicationFilterChain.internalDoFilter(ApplicationFilterChain.java:166)\n\tat org.apache.catalina.core.ApplicationFilterChain.doFilter(ApplicationFilterChain.java:140)\n\tat java.base/java.lang.Thread.run(Thread.java:1583)",
};

struct ServiceDef {
    name: &'static str,
    version: &'static str,
    lang: &'static Lang,
    port: u16,
    replicas: usize,
    namespace: &'static str,
    /// The Redis it uses.
    redis_host: &'static str,
}

const SERVICES: [ServiceDef; 10] = [
    ServiceDef {
        name: "frontend",
        version: "2.3.1",
        lang: &NODE,
        port: 8080,
        replicas: 4,
        namespace: "shop",
        redis_host: "redis-cache",
    },
    ServiceDef {
        name: "checkout",
        version: "1.12.0",
        lang: &GO,
        port: 5050,
        replicas: 3,
        namespace: "shop",
        redis_host: "redis-cache",
    },
    ServiceDef {
        name: "cart",
        version: "3.1.4",
        lang: &DOTNET,
        port: 7070,
        replicas: 3,
        namespace: "shop",
        redis_host: "valkey-cart",
    },
    ServiceDef {
        name: "payment",
        version: "1.8.2",
        lang: &NODE,
        port: 50051,
        replicas: 2,
        namespace: "payments",
        redis_host: "redis-cache",
    },
    ServiceDef {
        name: "shipping",
        version: "0.9.3",
        lang: &RUST,
        port: 50050,
        replicas: 2,
        namespace: "shop",
        redis_host: "redis-cache",
    },
    ServiceDef {
        name: "currency",
        version: "1.4.0",
        lang: &CPP,
        port: 7001,
        replicas: 2,
        namespace: "shop",
        redis_host: "redis-cache",
    },
    ServiceDef {
        name: "email",
        version: "1.2.7",
        lang: &RUBY,
        port: 6060,
        replicas: 2,
        namespace: "shop",
        redis_host: "redis-cache",
    },
    ServiceDef {
        name: "recommendation",
        version: "2.0.5",
        lang: &PYTHON,
        port: 9001,
        replicas: 3,
        namespace: "shop",
        redis_host: "redis-cache",
    },
    ServiceDef {
        name: "ad",
        version: "1.6.0",
        lang: &JAVA,
        port: 9555,
        replicas: 2,
        namespace: "shop",
        redis_host: "redis-cache",
    },
    ServiceDef {
        name: "product-catalog",
        version: "1.9.4",
        lang: &GO,
        port: 3550,
        replicas: 3,
        namespace: "shop",
        redis_host: "redis-cache",
    },
];

/// The names of the corpus' services.
pub fn service_names() -> Vec<&'static str> {
    SERVICES.iter().map(|s| s.name).collect()
}

/// Scopes per service, in this order, at `service * SCOPES + kind`.
const SCOPES: usize = 5;
#[derive(Clone, Copy)]
enum ScopeKind {
    Server = 0,
    Client = 1,
    Postgres = 2,
    Redis = 3,
    Manual = 4,
}

const PRODUCTS: [(&str, &str, f64); 10] = [
    (
        "OLJCESPC7Z",
        "National Park Foundation Explorascope",
        101.96,
    ),
    (
        "66VCHSJNUP",
        "Starsense Explorer Refractor Telescope",
        349.95,
    ),
    (
        "1YMWWN1N4O",
        "Eclipsmart Travel Refractor Telescope",
        129.95,
    ),
    ("L9ECAV7KIM", "Lens Cleaning Kit", 21.95),
    ("2ZYFJ3GM2N", "Roof Binoculars", 209.95),
    ("0PUK6V6EV0", "Solar System Color Imager", 175.0),
    ("LS4PSXUNUM", "Red Flashlight", 57.8),
    ("9SIQT8TOJO", "Optical Tube Assembly", 3599.0),
    ("6E92ZMYYFZ", "Solar Filter", 69.95),
    ("HQTGWGPNH4", "The Comet Book", 0.99),
];
const CURRENCIES: [&str; 7] = ["USD", "EUR", "CAD", "JPY", "GBP", "TRY", "CHF"];
const CARDS: [&str; 3] = ["visa", "mastercard", "amex"];
const AD_CONTEXTS: [&str; 5] = [
    "telescopes",
    "binoculars",
    "accessories",
    "books",
    "flashlights",
];
const BROWSERS: [&str; 6] = [
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/126.0.0.0 Safari/537.36",
    "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.5 Safari/605.1.15",
    "Mozilla/5.0 (iPhone; CPU iPhone OS 17_5 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.5 Mobile/15E148 Safari/604.1",
    "Mozilla/5.0 (X11; Linux x86_64; rv:127.0) Gecko/20100101 Firefox/127.0",
    "Mozilla/5.0 (Linux; Android 14; Pixel 8) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/126.0.6478.71 Mobile Safari/537.36",
    "python-requests/2.31.0",
];
const DB_ERRORS: [&str; 4] = [
    "canceling statement due to statement timeout",
    "deadlock detected",
    "could not serialize access due to concurrent update",
    "remaining connection slots are reserved for non-replication superuser connections",
];
const CACHE_ERRORS: [&str; 3] = [
    "Timeout awaiting response (outbound=0KiB, inbound=0KiB, 5000ms elapsed, timeout is 5000ms)",
    "connection reset by peer",
    "READONLY You can't write against a read only replica.",
];
const CRASHES: [&str; 4] = [
    "runtime error: invalid memory address or nil pointer dereference",
    "unexpected EOF",
    "context deadline exceeded",
    "upstream connect error or disconnect/reset before headers. reset reason: connection termination",
];
const DECLINES: [&str; 3] = [
    "Credit card info is invalid.",
    "Your card was declined.",
    "Your card has insufficient funds.",
];

/// The statements, as the instrumentations record them (parameters elided).
const SQL_PRODUCT: &str = "SELECT id, name, description, picture, price_currency_code, price_units, price_nanos, categories FROM products WHERE id = $1";
const SQL_PRODUCTS: &str = "SELECT id, name, description, picture, price_currency_code, price_units, price_nanos, categories FROM products ORDER BY name LIMIT $1";
const SQL_ADS: &str = "SELECT id, text, redirect_url FROM ads WHERE category = ? LIMIT ?";
const SQL_SHIPMENT: &str =
    "INSERT INTO shipments (order_id, tracking_id, address, created_at) VALUES ($1, $2, $3, now())";
const SQL_PAYMENT: &str = "INSERT INTO payments (transaction_id, order_id, amount_units, amount_nanos, currency, card_type, created_at) VALUES ($1, $2, $3, $4, $5, $6, now())";
const SQL_ORDER: &str = "INSERT INTO orders (order_id, user_id, currency, total_units, total_nanos, shipping_tracking_id, created_at) VALUES ($1, $2, $3, $4, $5, $6, now())";
const SQL_ORDER_ITEMS: &str = "INSERT INTO order_items (order_id, product_id, quantity, price_units, price_nanos) SELECT * FROM unnest($1::text[], $2::text[], $3::int[], $4::bigint[], $5::int[])";

const CHARGE_FAILED: &str = "failed to charge card: could not charge the card";

/// Failure rates: a PostgreSQL and a Redis call, any server handler, a charge.
const PG_FAIL: f64 = 0.015;
const REDIS_FAIL: f64 = 0.006;
const CRASH: f64 = 0.007;
const DECLINE: f64 = 0.03;
/// Slow orders: a slow payment gateway, a lock wait on `orders`.
const SLOW_GATEWAY: f64 = 0.02;
const LOCK_WAIT: f64 = 0.01;

/// Sampling on top of [`Rng`].
trait Draw {
    fn unit(&mut self) -> f64;
    fn chance(&mut self, p: f64) -> bool;
    fn pick<T: Copy>(&mut self, items: &[T]) -> T;
    /// Log-normal around `median_ms`, in nanoseconds.
    fn lognormal(&mut self, median_ms: f64, sigma: f64) -> i64;
    fn id8(&mut self) -> [u8; 8];
    fn id16(&mut self) -> [u8; 16];
    fn uuid(&mut self) -> String;
}

impl Draw for Rng {
    fn unit(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 / (1u64 << 53) as f64
    }

    fn chance(&mut self, p: f64) -> bool {
        self.unit() < p
    }

    fn pick<T: Copy>(&mut self, items: &[T]) -> T {
        items[self.below(items.len() as u64) as usize]
    }

    fn lognormal(&mut self, median_ms: f64, sigma: f64) -> i64 {
        // Box–Muller, clamped to ±4 sigma.
        let u1 = self.unit().max(1e-12);
        let u2 = self.unit();
        let normal =
            ((-2.0 * u1.ln()).sqrt() * (std::f64::consts::TAU * u2).cos()).clamp(-4.0, 4.0);
        ((median_ms * (sigma * normal).exp()) * MS as f64).max(1_000.0) as i64
    }

    fn id8(&mut self) -> [u8; 8] {
        (self.next_u64() | 1).to_be_bytes()
    }

    fn id16(&mut self) -> [u8; 16] {
        let mut id = [0u8; 16];
        id[..8].copy_from_slice(&self.next_u64().to_be_bytes());
        id[8..].copy_from_slice(&(self.next_u64() | 1).to_be_bytes());
        id
    }

    fn uuid(&mut self) -> String {
        let (a, b) = (self.next_u64(), self.next_u64());
        format!(
            "{:08x}-{:04x}-4{:03x}-{:04x}-{:012x}",
            a >> 32,
            (a >> 16) & 0xffff,
            a & 0xfff,
            0x8000 | (b >> 48) & 0x3fff,
            b & 0xffff_ffff_ffff
        )
    }
}

fn str_value(value: impl Into<String>) -> Option<AnyValue> {
    Some(AnyValue {
        value: Some(any_value::Value::StringValue(value.into())),
    })
}

fn kv(key: &str, value: impl Into<String>) -> KeyValue {
    KeyValue {
        key: key.into(),
        value: str_value(value),
    }
}

fn kv_int(key: &str, value: i64) -> KeyValue {
    KeyValue {
        key: key.into(),
        value: Some(AnyValue {
            value: Some(any_value::Value::IntValue(value)),
        }),
    }
}

fn kv_f64(key: &str, value: f64) -> KeyValue {
    KeyValue {
        key: key.into(),
        value: Some(AnyValue {
            value: Some(any_value::Value::DoubleValue(value)),
        }),
    }
}

fn kv_bool(key: &str, value: bool) -> KeyValue {
    KeyValue {
        key: key.into(),
        value: Some(AnyValue {
            value: Some(any_value::Value::BoolValue(value)),
        }),
    }
}

/// One trace of the corpus, as the runner needs to check a store's answers.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct TraceInfo {
    pub id: [u8; 16],
    pub spans: usize,
    /// The root's start and end, Unix nanoseconds: every span is inside.
    pub start_ns: i64,
    pub end_ns: i64,
    /// Spans that [`SEARCH_QUERY`] matches.
    pub matching_spans: usize,
    pub error_spans: usize,
}

impl TraceInfo {
    /// The id as 32 lowercase hex digits, as `/api/traces/<id>` takes it.
    pub fn hex(&self) -> String {
        hex(&self.id)
    }
}

pub fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// One request's worth of spans.
pub struct Batch {
    /// An encoded OTLP `ExportTraceServiceRequest`.
    pub body: Vec<u8>,
    pub spans: usize,
    /// Every trace in the batch, each whole.
    pub traces: Vec<TraceInfo>,
}

/// Totals over everything generated so far.
#[derive(Clone, Debug, Default)]
pub struct CorpusStats {
    pub traces: usize,
    pub spans: usize,
    pub batches: usize,
    /// Encoded request bytes.
    pub bytes: usize,
    pub error_spans: usize,
    pub checkout_traces: usize,
    pub checkout_spans: usize,
    /// Spans and traces that [`SEARCH_QUERY`] matches.
    pub matching_spans: usize,
    pub matching_traces: usize,
}

/// A service replica: its resource, shared by all its spans.
struct Instance {
    service: usize,
    ip: String,
    resource: Resource,
}

/// The deterministic trace generator.
pub struct TraceCorpus {
    rng: Rng,
    start_ns: i64,
    end_ns: i64,
    total_spans: usize,
    instances: Vec<Instance>,
    /// The first instance of each service; its replicas follow.
    first_instance: [usize; 10],
    scopes: Vec<InstrumentationScope>,
    cuts: Vec<i64>,
    stats: CorpusStats,
    matching: Vec<TraceInfo>,
    planted: Vec<TraceInfo>,
}

impl TraceCorpus {
    /// A corpus of about `total_spans` spans in whole traces, spread evenly
    /// over `[start_ns, end_ns)`. No span comes within a millisecond of a
    /// cut, `end_ns` minus a whole number of hours, nor of `end_ns`: a search
    /// over `[end - k h, end]` then holds exactly the traces that
    /// [`TraceCorpus::matching_within`] counts for it.
    pub fn new(seed: u64, start_ns: i64, end_ns: i64, total_spans: usize) -> TraceCorpus {
        assert!(
            end_ns > start_ns + 10 * 1_000_000_000,
            "a time range of 10 s or more"
        );
        assert!(total_spans > 0);
        let mut setup = Rng::new(seed ^ 0x7ace_5eed_0000_0001);
        let mut instances = Vec::new();
        let mut first_instance = [0; 10];
        let mut scopes = Vec::new();
        for (index, service) in SERVICES.iter().enumerate() {
            first_instance[index] = instances.len();
            let lang = service.lang;
            let hash = replica_set_hash(&mut setup);
            for _ in 0..service.replicas {
                let pod = format!("{}-{hash}-{}", service.name, pod_suffix(&mut setup));
                let node = format!(
                    "ip-10-0-{}-{}.eu-west-1.compute.internal",
                    setup.below(64),
                    setup.below(256)
                );
                let ip = format!("10.42.{}.{}", setup.below(64), 2 + setup.below(250));
                let attributes = vec![
                    kv("service.name", service.name),
                    kv("service.namespace", "opentelemetry-demo"),
                    kv("service.version", service.version),
                    kv("service.instance.id", setup.uuid()),
                    kv("host.name", pod.clone()),
                    kv("k8s.pod.name", pod),
                    kv("k8s.namespace.name", service.namespace),
                    kv("k8s.deployment.name", service.name),
                    kv("k8s.node.name", node),
                    kv("deployment.environment", "production"),
                    kv("cloud.provider", "aws"),
                    kv("cloud.region", "eu-west-1"),
                    kv("telemetry.sdk.language", lang.language),
                    kv("telemetry.sdk.name", "opentelemetry"),
                    kv("telemetry.sdk.version", lang.sdk_version),
                ];
                instances.push(Instance {
                    service: index,
                    ip,
                    resource: Resource {
                        attributes,
                        ..Default::default()
                    },
                });
            }
            for (name, version) in [
                lang.server,
                lang.client,
                lang.postgres,
                lang.redis,
                (service.name, service.version),
            ] {
                scopes.push(InstrumentationScope {
                    name: name.into(),
                    version: version.into(),
                    ..Default::default()
                });
            }
        }
        let cuts = (1..)
            .map(|k| end_ns - k * HOUR_NS)
            .take_while(|&cut| cut > start_ns)
            .collect();
        TraceCorpus {
            rng: Rng::new(seed),
            start_ns,
            end_ns,
            total_spans,
            instances,
            first_instance,
            scopes,
            cuts,
            stats: CorpusStats::default(),
            matching: Vec::new(),
            planted: Vec::new(),
        }
    }

    /// The next request: whole traces of about `target_spans` spans in all
    /// (more by less than a trace), grouped as an SDK or a collector sends
    /// them: a `ResourceSpans` per service replica, a `ScopeSpans` per
    /// instrumentation scope. `None` once the corpus is complete.
    pub fn next_batch(&mut self, target_spans: usize) -> Option<Batch> {
        if self.stats.spans >= self.total_spans {
            return None;
        }
        let mut placed = Vec::with_capacity(target_spans + MAX_SPANS_PER_TRACE);
        let mut traces = Vec::new();
        while placed.len() < target_spans.max(1) && self.stats.spans < self.total_spans {
            traces.push(self.next_trace(&mut placed));
        }
        // By replica, then scope; spans keep their order (children end first).
        let mut buckets: Vec<Vec<Span>> = vec![Vec::new(); self.instances.len() * SCOPES];
        let spans = placed.len();
        for (instance, scope, span) in placed {
            buckets[instance as usize * SCOPES + scope as usize % SCOPES].push(span);
        }
        let mut request = ExportTraceServiceRequest::default();
        for (instance, scopes) in buckets.chunks_mut(SCOPES).enumerate() {
            if scopes.iter().all(Vec::is_empty) {
                continue;
            }
            let first_scope = self.instances[instance].service * SCOPES;
            request.resource_spans.push(ResourceSpans {
                resource: Some(self.instances[instance].resource.clone()),
                scope_spans: scopes
                    .iter_mut()
                    .enumerate()
                    .filter(|(_, spans)| !spans.is_empty())
                    .map(|(kind, spans)| ScopeSpans {
                        scope: Some(self.scopes[first_scope + kind].clone()),
                        spans: std::mem::take(spans),
                        schema_url: String::new(),
                    })
                    .collect(),
                schema_url: "https://opentelemetry.io/schemas/1.26.0".into(),
            });
        }
        let body = request.encode_to_vec();
        self.stats.batches += 1;
        self.stats.bytes += body.len();
        Some(Batch {
            body,
            spans,
            traces,
        })
    }

    /// Generates one trace, places it in time and appends its spans.
    fn next_trace(&mut self, placed: &mut Vec<(u32, u32, Span)>) -> TraceInfo {
        let id = self.rng.id16();
        let mut trace = Gen {
            rng: &mut self.rng,
            instances: &self.instances,
            first_instance: &self.first_instance,
            trace_id: id,
            spans: Vec::new(),
        };
        trace.frontend();
        let spans = trace.spans;
        debug_assert!((5..=MAX_SPANS_PER_TRACE).contains(&spans.len()));
        // Times so far are from the root's start; the root holds every span.
        let duration = spans
            .iter()
            .map(|(_, _, s)| s.end_time_unix_nano as i64)
            .max()
            .unwrap_or(0);
        let range = (self.end_ns - self.start_ns) as i128;
        let mut start =
            self.start_ns + (range * self.stats.spans as i128 / self.total_spans as i128) as i64;
        for &cut in &self.cuts {
            if start < cut + CUT_MARGIN_NS && start + duration > cut - CUT_MARGIN_NS {
                start = cut + CUT_MARGIN_NS;
            }
        }
        if start + duration > self.end_ns - CUT_MARGIN_NS {
            start = (self.end_ns - CUT_MARGIN_NS - duration).max(self.start_ns);
        }
        let mut info = TraceInfo {
            id,
            spans: spans.len(),
            start_ns: start,
            end_ns: start + duration,
            matching_spans: 0,
            error_spans: 0,
        };
        let mut checkout = false;
        for (instance, scope, mut span) in spans {
            span.start_time_unix_nano += start as u64;
            span.end_time_unix_nano += start as u64;
            for event in &mut span.events {
                event.time_unix_nano += start as u64;
            }
            if self.instances[instance as usize].service == Svc::Checkout as usize {
                checkout = true;
                self.stats.checkout_spans += 1;
                let length = span.end_time_unix_nano - span.start_time_unix_nano;
                if length as i64 > SEARCH_MIN_DURATION_NS {
                    info.matching_spans += 1;
                }
            }
            if span
                .status
                .as_ref()
                .is_some_and(|s| s.code == status::StatusCode::Error as i32)
            {
                info.error_spans += 1;
            }
            placed.push((instance, scope, span));
        }
        self.stats.traces += 1;
        self.stats.spans += info.spans;
        self.stats.error_spans += info.error_spans;
        self.stats.checkout_traces += usize::from(checkout);
        self.stats.matching_spans += info.matching_spans;
        if info.matching_spans > 0 {
            self.stats.matching_traces += 1;
            self.matching.push(info);
        }
        self.plant(info);
        info
    }

    /// Keeps the first and last traces, the largest, and the first with an
    /// error and the first that the search matches.
    fn plant(&mut self, info: TraceInfo) {
        if self.planted.is_empty() {
            // First, last, largest, first error, first match.
            self.planted = vec![info; 5];
        }
        self.planted[1] = info;
        if info.spans > self.planted[2].spans {
            self.planted[2] = info;
        }
        if info.error_spans > 0 && self.planted[3].error_spans == 0 {
            self.planted[3] = info;
        }
        if info.matching_spans > 0 && self.planted[4].matching_spans == 0 {
            self.planted[4] = info;
        }
    }

    /// A few known traces for by-id lookups: the first and the last sent,
    /// the largest, the first with an error and the first the search
    /// matches (without repeats).
    pub fn planted(&self) -> Vec<TraceInfo> {
        let mut out: Vec<TraceInfo> = Vec::new();
        for info in &self.planted {
            if !out.iter().any(|o| o.id == info.id) {
                out.push(*info);
            }
        }
        out
    }

    /// Every trace [`SEARCH_QUERY`] matches, in generation order.
    pub fn matching(&self) -> &[TraceInfo] {
        &self.matching
    }

    /// Traces that [`SEARCH_QUERY`] matches lying wholly in `[from_ns, to_ns]`.
    /// Exact for any window whose ends are cuts or the corpus' ends (see
    /// [`TraceCorpus::new`]), whichever way a store treats traces at the edge.
    pub fn matching_within(&self, from_ns: i64, to_ns: i64) -> usize {
        self.matching
            .iter()
            .filter(|t| t.start_ns >= from_ns && t.end_ns <= to_ns)
            .count()
    }

    pub fn stats(&self) -> &CorpusStats {
        &self.stats
    }

    /// Spans asked for in [`TraceCorpus::new`]; the corpus ends on the first
    /// whole trace at or past it.
    pub fn total_spans(&self) -> usize {
        self.total_spans
    }
}

fn replica_set_hash(rng: &mut Rng) -> String {
    const ALPHABET: &[u8] = b"bcdfghjklmnpqrstvwxz2456789";
    (0..9 + rng.below(2))
        .map(|_| ALPHABET[rng.below(ALPHABET.len() as u64) as usize] as char)
        .collect()
}

fn pod_suffix(rng: &mut Rng) -> String {
    const ALPHABET: &[u8] = b"bcdfghjklmnpqrstvwxz2456789";
    (0..5)
        .map(|_| ALPHABET[rng.below(ALPHABET.len() as u64) as usize] as char)
        .collect()
}

/// Where code runs: its service, replica and current span (the parent of
/// the spans it starts).
#[derive(Clone, Copy)]
struct Ctx {
    service: usize,
    instance: usize,
    span: [u8; 8],
}

#[derive(Clone, Copy)]
enum ErrKind {
    Db = 0,
    Cache = 1,
    Other = 2,
}

/// A failure on its way up the call tree: when it happened, the HTTP status
/// it turns into and what it says.
struct Fail {
    end: i64,
    code: u16,
    kind: ErrKind,
    message: String,
}

/// A handler's success: when it answered, and with what status.
struct Reply {
    end: i64,
    code: u16,
}

impl Reply {
    fn ok(end: i64) -> Result<Reply, Fail> {
        Ok(Reply { end, code: 200 })
    }
}

/// What a caller sees of a call to another service.
struct Outcome {
    end: i64,
    code: u16,
    message: String,
}

impl Outcome {
    /// The call's end, or the caller's failure because of it.
    fn require(&self, what: &str) -> Result<i64, Fail> {
        if self.code < 400 {
            return Ok(self.end);
        }
        Err(Fail {
            end: self.end,
            code: if self.code == 400 { 400 } else { 500 },
            kind: ErrKind::Other,
            message: format!("{what}: {}", self.message),
        })
    }
}

/// An HTTP request as a server's instrumentation sees it.
struct Req {
    method: &'static str,
    route: &'static str,
    path: String,
    query: Option<String>,
}

impl Req {
    fn new(method: &'static str, route: &'static str, path: String) -> Req {
        Req {
            method,
            route,
            path,
            query: None,
        }
    }

    fn query(mut self, query: String) -> Req {
        self.query = Some(query);
        self
    }
}

/// What a handler adds to its server span.
#[derive(Default)]
struct Extra {
    attrs: Vec<KeyValue>,
    events: Vec<span::Event>,
}

/// Most carts hold one or two items; a few hold many.
const MAX_ITEMS: usize = 21;

fn reason(code: u16) -> &'static str {
    match code {
        400 => "Bad Request",
        404 => "Not Found",
        503 => "Service Unavailable",
        _ => "Internal Server Error",
    }
}

fn event(at: i64, name: &str, attributes: Vec<KeyValue>) -> span::Event {
    span::Event {
        time_unix_nano: at as u64,
        name: name.into(),
        attributes,
        dropped_attributes_count: 0,
    }
}

/// One trace being generated, with times from its root's start.
struct Gen<'a> {
    rng: &'a mut Rng,
    instances: &'a [Instance],
    first_instance: &'a [usize; 10],
    trace_id: [u8; 16],
    spans: Vec<(u32, u32, Span)>,
}

impl Gen<'_> {
    fn instance(&mut self, service: Svc) -> usize {
        let service = service as usize;
        self.first_instance[service] + self.rng.below(SERVICES[service].replicas as u64) as usize
    }

    fn work(&mut self, median_ms: f64) -> i64 {
        self.rng.lognormal(median_ms, 0.5)
    }

    /// One way across the cluster network.
    fn net(&mut self) -> i64 {
        self.rng.lognormal(0.3, 0.4)
    }

    fn items(&mut self) -> usize {
        let u = self.rng.unit();
        ((1.0 / (1.0 - u).powf(1.0 / 1.2)) as usize).clamp(1, MAX_ITEMS)
    }

    fn currency(&mut self) -> &'static str {
        if self.rng.chance(0.5) {
            "USD"
        } else {
            self.rng.pick(&CURRENCIES)
        }
    }

    #[allow(clippy::too_many_arguments)]
    fn span(
        &self,
        id: [u8; 8],
        parent: Option<[u8; 8]>,
        remote_parent: bool,
        name: String,
        kind: span::SpanKind,
        start: i64,
        end: i64,
        attributes: Vec<KeyValue>,
    ) -> Span {
        Span {
            trace_id: self.trace_id.to_vec(),
            span_id: id.to_vec(),
            parent_span_id: parent.map_or_else(Vec::new, |p| p.to_vec()),
            // Sampled, and whether the parent is remote (W3C flags + OTLP bits).
            flags: if remote_parent { 0x301 } else { 0x101 },
            name,
            kind: kind as i32,
            start_time_unix_nano: start as u64,
            end_time_unix_nano: end as u64,
            attributes,
            ..Default::default()
        }
    }

    fn emit(&mut self, instance: usize, scope: ScopeKind, span: Span) {
        let service = self.instances[instance].service;
        self.spans.push((
            instance as u32,
            (service * SCOPES + scope as usize) as u32,
            span,
        ));
    }

    /// Marks `span` failed the way its service's SDK records an error.
    fn fail(&mut self, span: &mut Span, service: usize, kind: ErrKind, message: &str, at: i64) {
        let lang = SERVICES[service].lang;
        let kind_name = lang.errors[kind as usize];
        span.status = Some(Status {
            message: message.into(),
            code: status::StatusCode::Error as i32,
        });
        span.attributes.push(kv("error.type", kind_name));
        span.events.push(event(
            at,
            "exception",
            vec![
                kv("exception.type", kind_name),
                kv("exception.message", message),
                kv(
                    "exception.stacktrace",
                    lang.stack
                        .replace("{type}", kind_name)
                        .replace("{msg}", message),
                ),
            ],
        ));
    }

    /// A request served by `service` (on a replica the load balancer picks),
    /// called by `caller` (its context and client span) or by a browser.
    fn serve(
        &mut self,
        caller: Option<(Ctx, [u8; 8])>,
        service: Svc,
        req: &Req,
        start: i64,
        handler: impl FnOnce(&mut Self, Ctx, i64, &mut Extra) -> Result<Reply, Fail>,
    ) -> Outcome {
        let instance = self.instance(service);
        let service = service as usize;
        let id = self.rng.id8();
        let ctx = Ctx {
            service,
            instance,
            span: id,
        };
        let mut extra = Extra::default();
        let begin = start + self.work(0.05);
        let mut result = handler(self, ctx, begin, &mut extra);
        if let Ok(reply) = &result {
            if self.rng.chance(CRASH) {
                result = Err(Fail {
                    end: reply.end,
                    code: 500,
                    kind: ErrKind::Other,
                    message: self.rng.pick(&CRASHES).into(),
                });
            }
        }
        let (handler_end, code, failure) = match result {
            Ok(reply) => (reply.end, reply.code, None),
            Err(fail) => (fail.end, fail.code, Some(fail)),
        };
        let end = handler_end + self.work(0.03);
        let def = &SERVICES[service];
        let mut attrs = Vec::with_capacity(12 + extra.attrs.len());
        attrs.push(kv("http.request.method", req.method));
        attrs.push(kv(
            "url.scheme",
            if caller.is_some() { "http" } else { "https" },
        ));
        attrs.push(kv("url.path", req.path.clone()));
        if let Some(query) = &req.query {
            attrs.push(kv("url.query", query.clone()));
        }
        attrs.push(kv("http.route", req.route));
        attrs.push(kv_int("http.response.status_code", i64::from(code)));
        match caller {
            Some((from, _)) => {
                attrs.push(kv("server.address", def.name));
                attrs.push(kv_int("server.port", i64::from(def.port)));
                attrs.push(kv("network.protocol.version", "1.1"));
                attrs.push(kv(
                    "user_agent.original",
                    SERVICES[from.service].lang.user_agent,
                ));
                attrs.push(kv(
                    "client.address",
                    self.instances[from.instance].ip.clone(),
                ));
            }
            None => {
                attrs.push(kv("server.address", "shop.example.com"));
                attrs.push(kv_int("server.port", 443));
                attrs.push(kv("network.protocol.version", "2"));
                attrs.push(kv("user_agent.original", self.rng.pick(&BROWSERS)));
                let ip = self.rng.next_u64();
                attrs.push(kv(
                    "client.address",
                    format!(
                        "{}.{}.{}.{}",
                        1 + (ip & 0x7f),
                        (ip >> 8) & 0xff,
                        (ip >> 16) & 0xff,
                        1 + (ip >> 24) % 254
                    ),
                ));
            }
        }
        attrs.append(&mut extra.attrs);
        let mut span = self.span(
            id,
            caller.map(|(_, client)| client),
            caller.is_some(),
            format!("{} {}", req.method, req.route),
            span::SpanKind::Server,
            start,
            end,
            attrs,
        );
        span.events = extra.events;
        let message = match failure {
            Some(fail) => {
                self.fail(&mut span, service, fail.kind, &fail.message, fail.end);
                fail.message
            }
            None => String::new(),
        };
        self.emit(instance, ScopeKind::Server, span);
        Outcome { end, code, message }
    }

    /// An HTTP call from `caller` to `service`: a client span here, the
    /// server span there.
    fn call(
        &mut self,
        caller: Ctx,
        service: Svc,
        req: Req,
        start: i64,
        handler: impl FnOnce(&mut Self, Ctx, i64, &mut Extra) -> Result<Reply, Fail>,
    ) -> Outcome {
        let id = self.rng.id8();
        let there = self.net();
        let outcome = self.serve(Some((caller, id)), service, &req, start + there, handler);
        let end = outcome.end + self.net();
        let def = &SERVICES[service as usize];
        let mut url = format!("http://{}:{}{}", def.name, def.port, req.path);
        if let Some(query) = &req.query {
            url.push('?');
            url.push_str(query);
        }
        let code = outcome.code;
        let mut attrs = vec![
            kv("http.request.method", req.method),
            kv("url.full", url),
            kv("server.address", def.name),
            kv_int("server.port", i64::from(def.port)),
            kv("network.protocol.version", "1.1"),
            kv_int("http.response.status_code", i64::from(code)),
        ];
        if code >= 400 {
            attrs.push(kv("error.type", code.to_string()));
        }
        let mut span = self.span(
            id,
            Some(caller.span),
            false,
            req.method.into(),
            span::SpanKind::Client,
            start,
            end,
            attrs,
        );
        if code >= 400 {
            span.status = Some(Status {
                message: format!("{code} {}", reason(code)),
                code: status::StatusCode::Error as i32,
            });
        }
        self.emit(caller.instance, ScopeKind::Client, span);
        Outcome { end, ..outcome }
    }

    /// A call to a host outside the cluster (a payment gateway, a mail API).
    fn external(
        &mut self,
        ctx: Ctx,
        method: &'static str,
        url: &str,
        duration: i64,
        start: i64,
        code: u16,
    ) -> i64 {
        let host = url
            .trim_start_matches("https://")
            .split('/')
            .next()
            .unwrap_or_default()
            .to_string();
        let end = start + duration;
        let attrs = vec![
            kv("http.request.method", method),
            kv("url.full", url),
            kv("server.address", host),
            kv_int("server.port", 443),
            kv("network.protocol.version", "1.1"),
            kv_int("http.response.status_code", i64::from(code)),
        ];
        let id = self.rng.id8();
        let span = self.span(
            id,
            Some(ctx.span),
            false,
            method.into(),
            span::SpanKind::Client,
            start,
            end,
            attrs,
        );
        self.emit(ctx.instance, ScopeKind::Client, span);
        end + self.work(0.02)
    }

    /// A span of the service's own code around `body`.
    fn internal(
        &mut self,
        ctx: Ctx,
        name: &str,
        start: i64,
        body: impl FnOnce(&mut Self, Ctx, i64) -> Result<i64, Fail>,
    ) -> Result<i64, Fail> {
        let id = self.rng.id8();
        let inner = Ctx { span: id, ..ctx };
        let result = body(self, inner, start);
        let end = match &result {
            Ok(end) => *end,
            Err(fail) => fail.end,
        };
        let mut span = self.span(
            id,
            Some(ctx.span),
            false,
            name.into(),
            span::SpanKind::Internal,
            start,
            end,
            Vec::new(),
        );
        match &result {
            Err(fail) => {
                span.status = Some(Status {
                    message: fail.message.clone(),
                    code: status::StatusCode::Error as i32,
                })
            }
            Ok(_) => {
                span.status = Some(Status {
                    message: String::new(),
                    code: status::StatusCode::Ok as i32,
                })
            }
        }
        self.emit(ctx.instance, ScopeKind::Manual, span);
        result
    }

    /// A database call's span, failing with probability `fail_rate`.
    #[allow(clippy::too_many_arguments)]
    fn db(
        &mut self,
        ctx: Ctx,
        scope: ScopeKind,
        name: String,
        attrs: Vec<KeyValue>,
        start: i64,
        duration: i64,
        fail_rate: f64,
    ) -> Result<i64, Fail> {
        let (kind, messages) = match scope {
            ScopeKind::Redis => (ErrKind::Cache, &CACHE_ERRORS[..]),
            _ => (ErrKind::Db, &DB_ERRORS[..]),
        };
        let id = self.rng.id8();
        let end = start + duration;
        let mut span = self.span(
            id,
            Some(ctx.span),
            false,
            name,
            span::SpanKind::Client,
            start,
            end,
            attrs,
        );
        let failed = self.rng.chance(fail_rate);
        let message = failed.then(|| self.rng.pick(messages));
        if let Some(message) = message {
            self.fail(&mut span, ctx.service, kind, message, end);
        }
        self.emit(ctx.instance, scope, span);
        let after = end + self.work(0.02);
        match message {
            Some(message) => Err(Fail {
                end: after,
                code: 500,
                kind,
                message: message.into(),
            }),
            None => Ok(after),
        }
    }

    fn pg(
        &mut self,
        ctx: Ctx,
        operation: &str,
        table: &str,
        statement: &str,
        start: i64,
        wait: i64,
    ) -> Result<i64, Fail> {
        const HOST: &str = "postgres.shop.svc.cluster.local";
        let attrs = vec![
            kv("db.system", "postgresql"),
            kv("db.name", "shop"),
            kv("db.user", SERVICES[ctx.service].name),
            kv("db.statement", statement),
            kv("db.operation", operation),
            kv("db.sql.table", table),
            kv("net.peer.name", HOST),
            kv_int("net.peer.port", 5432),
            kv("server.address", HOST),
            kv_int("server.port", 5432),
        ];
        let median = if operation == "SELECT" { 1.2 } else { 2.5 };
        let duration = self.rng.lognormal(median, 0.6) + wait;
        let name = format!("{operation} shop.{table}");
        self.db(
            ctx,
            ScopeKind::Postgres,
            name,
            attrs,
            start,
            duration,
            PG_FAIL,
        )
    }

    fn redis(
        &mut self,
        ctx: Ctx,
        command: &str,
        statement: String,
        start: i64,
    ) -> Result<i64, Fail> {
        let host = SERVICES[ctx.service].redis_host;
        let attrs = vec![
            kv("db.system", "redis"),
            kv("db.name", "0"),
            kv("db.statement", statement),
            kv("db.operation", command),
            kv_int("db.redis.database_index", 0),
            kv("net.peer.name", host),
            kv_int("net.peer.port", 6379),
            kv("server.address", host),
            kv_int("server.port", 6379),
        ];
        let duration = self.rng.lognormal(0.25, 0.5);
        self.db(
            ctx,
            ScopeKind::Redis,
            command.into(),
            attrs,
            start,
            duration,
            REDIS_FAIL,
        )
    }

    // The services' endpoints, as their callers call them.

    fn product_get(&mut self, caller: Ctx, start: i64, product: usize) -> Outcome {
        let (id, name, _) = PRODUCTS[product];
        let req = Req::new(
            "GET",
            "/api/products/{productId}",
            format!("/api/products/{id}"),
        );
        self.call(
            caller,
            Svc::ProductCatalog,
            req,
            start,
            move |g, ctx, t, extra| {
                extra.attrs.push(kv("app.product.id", id));
                let mut c = g.redis(ctx, "GET", format!("GET product:{id}"), t)?;
                if g.rng.chance(0.25) {
                    c = g.pg(ctx, "SELECT", "products", SQL_PRODUCT, c, 0)?;
                    c = g.redis(ctx, "SET", format!("SET product:{id} ? EX 300"), c)?;
                }
                extra.attrs.push(kv("app.product.name", name));
                Reply::ok(c + g.work(0.1))
            },
        )
    }

    fn product_list(&mut self, caller: Ctx, start: i64) -> Outcome {
        let req = Req::new("GET", "/api/products", "/api/products".into());
        self.call(
            caller,
            Svc::ProductCatalog,
            req,
            start,
            |g, ctx, t, extra| {
                let mut c = g.redis(ctx, "GET", "GET products:all".into(), t)?;
                if g.rng.chance(0.1) {
                    c = g.pg(ctx, "SELECT", "products", SQL_PRODUCTS, c, 0)?;
                    c = g.redis(ctx, "SET", "SET products:all ? EX 60".into(), c)?;
                }
                extra
                    .attrs
                    .push(kv_int("app.products.count", PRODUCTS.len() as i64));
                Reply::ok(c + g.work(0.2))
            },
        )
    }

    fn currency_convert(
        &mut self,
        caller: Ctx,
        start: i64,
        to: &'static str,
        amount: f64,
    ) -> Outcome {
        let req = Req::new(
            "GET",
            "/api/currency/convert",
            "/api/currency/convert".into(),
        )
        .query(format!("from=USD&to={to}&amount={amount:.2}"));
        self.call(
            caller,
            Svc::Currency,
            req,
            start,
            move |g, ctx, t, extra| {
                let c = g.redis(ctx, "HGET", format!("HGET rates:latest {to}"), t)?;
                extra.attrs.push(kv("app.currency.conversion.from", "USD"));
                extra.attrs.push(kv("app.currency.conversion.to", to));
                Reply::ok(c + g.work(0.05))
            },
        )
    }

    fn currency_list(&mut self, caller: Ctx, start: i64) -> Outcome {
        let req = Req::new("GET", "/api/currency", "/api/currency".into());
        self.call(caller, Svc::Currency, req, start, |g, ctx, t, extra| {
            let c = g.redis(ctx, "SMEMBERS", "SMEMBERS currencies:supported".into(), t)?;
            extra
                .attrs
                .push(kv_int("app.currencies.count", CURRENCIES.len() as i64));
            Reply::ok(c + g.work(0.05))
        })
    }

    fn cart_get(&mut self, caller: Ctx, start: i64, user: &str, items: usize) -> Outcome {
        let req = Req::new("GET", "/api/cart/{userId}", format!("/api/cart/{user}"));
        let key = format!("HGETALL cart:{user}");
        let user = user.to_string();
        self.call(caller, Svc::Cart, req, start, move |g, ctx, t, extra| {
            extra.attrs.push(kv("app.user.id", user));
            extra.events.push(event(t, "Fetch cart", Vec::new()));
            let c = g.redis(ctx, "HGETALL", key, t)?;
            extra
                .attrs
                .push(kv_int("app.cart.items.count", items as i64));
            Reply::ok(c + g.work(0.1))
        })
    }

    fn cart_add(
        &mut self,
        caller: Ctx,
        start: i64,
        user: &str,
        product: usize,
        quantity: i64,
    ) -> Outcome {
        let req = Req::new(
            "POST",
            "/api/cart/{userId}/items",
            format!("/api/cart/{user}/items"),
        );
        let id = PRODUCTS[product].0;
        let user = user.to_string();
        self.call(caller, Svc::Cart, req, start, move |g, ctx, t, extra| {
            extra.attrs.push(kv("app.user.id", user.clone()));
            extra.attrs.push(kv("app.product.id", id));
            extra.attrs.push(kv_int("app.product.quantity", quantity));
            let mut c = g.redis(ctx, "HGET", format!("HGET cart:{user} {id}"), t)?;
            c = g.redis(ctx, "HSET", format!("HSET cart:{user} {id} ?"), c)?;
            c = g.redis(ctx, "EXPIRE", format!("EXPIRE cart:{user} 3600"), c)?;
            Reply::ok(c + g.work(0.1))
        })
    }

    fn cart_empty(&mut self, caller: Ctx, start: i64, user: &str) -> Outcome {
        let req = Req::new("DELETE", "/api/cart/{userId}", format!("/api/cart/{user}"));
        let user = user.to_string();
        self.call(caller, Svc::Cart, req, start, move |g, ctx, t, extra| {
            let c = g.redis(ctx, "DEL", format!("DEL cart:{user}"), t)?;
            extra.attrs.push(kv("app.user.id", user));
            Reply::ok(c + g.work(0.05))
        })
    }

    fn ad_get(&mut self, caller: Ctx, start: i64) -> Outcome {
        let context = self.rng.pick(&AD_CONTEXTS);
        let req =
            Req::new("GET", "/api/ads", "/api/ads".into()).query(format!("contextKeys={context}"));
        self.call(caller, Svc::Ad, req, start, move |g, ctx, t, extra| {
            let c = g.pg(ctx, "SELECT", "ads", SQL_ADS, t, 0)?;
            extra.attrs.push(kv("app.ads.contextKeys", context));
            extra
                .attrs
                .push(kv_int("app.ads.count", 1 + g.rng.below(2) as i64));
            let targeted = g.rng.chance(0.6);
            extra.attrs.push(kv(
                "app.ads.ad_response_type",
                if targeted { "targeted" } else { "random" },
            ));
            Reply::ok(c + g.work(0.4))
        })
    }

    fn reco_list(&mut self, caller: Ctx, start: i64, product: usize) -> Outcome {
        let id = PRODUCTS[product].0;
        let req = Req::new("GET", "/api/recommendations", "/api/recommendations".into())
            .query(format!("productIds={id}"));
        self.call(
            caller,
            Svc::Recommendation,
            req,
            start,
            move |g, ctx, t, extra| {
                let mut c = g.redis(ctx, "GET", format!("GET recommendations:{id}"), t)?;
                if g.rng.chance(0.4) {
                    c = g.product_list(ctx, c).require("failed to list products")?;
                    let at = c + g.work(0.3);
                    c = g.redis(
                        ctx,
                        "SETEX",
                        format!("SETEX recommendations:{id} 600 ?"),
                        at,
                    )?;
                }
                extra
                    .attrs
                    .push(kv_int("app.products_recommended.count", 5));
                Reply::ok(c + g.work(0.2))
            },
        )
    }

    fn shipping_quote(
        &mut self,
        caller: Ctx,
        start: i64,
        items: usize,
        currency: &'static str,
    ) -> Outcome {
        let req = Req::new("POST", "/api/shipping/quote", "/api/shipping/quote".into());
        self.call(
            caller,
            Svc::Shipping,
            req,
            start,
            move |g, ctx, t, extra| {
                let cost = 8.99 + 0.5 * items as f64;
                let c = g.internal(ctx, "create_quote_from_count", t, |g, _, t| {
                    Ok(t + g.work(0.03))
                })?;
                let c = g
                    .currency_convert(ctx, c, currency, cost)
                    .require("failed to convert shipping cost")?;
                extra
                    .attrs
                    .push(kv_int("app.shipping.items.count", items as i64));
                extra.attrs.push(kv_f64("app.shipping.cost.total", cost));
                Reply::ok(c + g.work(0.05))
            },
        )
    }

    fn shipping_ship(&mut self, caller: Ctx, start: i64, tracking: String) -> Outcome {
        let req = Req::new(
            "POST",
            "/api/shipping/orders",
            "/api/shipping/orders".into(),
        );
        self.call(
            caller,
            Svc::Shipping,
            req,
            start,
            move |g, ctx, t, extra| {
                let c = g.pg(ctx, "INSERT", "shipments", SQL_SHIPMENT, t, 0)?;
                extra.attrs.push(kv("app.shipping.tracking.id", tracking));
                Reply::ok(c + g.work(0.05))
            },
        )
    }

    fn payment_charge(
        &mut self,
        caller: Ctx,
        start: i64,
        amount: f64,
        currency: &'static str,
    ) -> Outcome {
        let req = Req::new(
            "POST",
            "/api/payments/charge",
            "/api/payments/charge".into(),
        );
        self.call(caller, Svc::Payment, req, start, move |g, ctx, t, extra| {
            extra
                .attrs
                .push(kv("app.payment.card_type", g.rng.pick(&CARDS)));
            extra.attrs.push(kv_f64("app.payment.amount", amount));
            extra.attrs.push(kv("app.payment.currency", currency));
            let valid = !g.rng.chance(DECLINE);
            extra.attrs.push(kv_bool("app.payment.card_valid", valid));
            if !valid {
                return Err(Fail {
                    end: t + g.work(0.3),
                    code: 400,
                    kind: ErrKind::Other,
                    message: g.rng.pick(&DECLINES).into(),
                });
            }
            let gateway = if g.rng.chance(SLOW_GATEWAY) {
                g.rng.lognormal(1200.0, 0.5).max(550 * MS)
            } else {
                g.rng.lognormal(140.0, 0.25).min(380 * MS)
            };
            let at = t + g.work(0.2);
            let c = g.external(
                ctx,
                "POST",
                "https://api.stripe.com/v1/charges",
                gateway,
                at,
                200,
            );
            let c = g.pg(ctx, "INSERT", "payments", SQL_PAYMENT, c, 0)?;
            extra.attrs.push(kv_bool("app.payment.charged", true));
            extra
                .attrs
                .push(kv("app.payment.transaction.id", g.rng.uuid()));
            Reply::ok(c + g.work(0.1))
        })
    }

    fn email_send(&mut self, caller: Ctx, start: i64, order: String) -> Outcome {
        let req = Req::new(
            "POST",
            "/api/email/send_order_confirmation",
            "/api/email/send_order_confirmation".into(),
        );
        self.call(caller, Svc::Email, req, start, move |g, ctx, t, extra| {
            let c = g.redis(
                ctx,
                "SET",
                format!("SET email:sent:{order} 1 NX EX 86400"),
                t,
            )?;
            let c = g.internal(ctx, "render order_confirmation", c, |g, _, t| {
                Ok(t + g.work(3.0))
            })?;
            let mail = g.rng.lognormal(60.0, 0.35);
            let c = g.external(
                ctx,
                "POST",
                "https://api.sendgrid.com/v3/mail/send",
                mail,
                c,
                202,
            );
            extra.attrs.push(kv("app.order.id", order));
            extra
                .attrs
                .push(kv("app.email.template", "order_confirmation"));
            Reply::ok(c + g.work(0.3))
        })
    }

    fn checkout_place(
        &mut self,
        caller: Ctx,
        start: i64,
        user: &str,
        items: usize,
        currency: &'static str,
    ) -> Outcome {
        let req = Req::new(
            "POST",
            "/api/checkout/orders",
            "/api/checkout/orders".into(),
        );
        let user = user.to_string();
        let products: Vec<usize> = (0..items)
            .map(|_| self.rng.below(PRODUCTS.len() as u64) as usize)
            .collect();
        self.call(
            caller,
            Svc::Checkout,
            req,
            start,
            move |g, ctx, t, extra| {
                let order = g.rng.uuid();
                extra.attrs.push(kv("app.user.id", user.clone()));
                extra.attrs.push(kv("app.user.currency", currency));
                extra.attrs.push(kv("app.order.id", order.clone()));
                extra
                    .attrs
                    .push(kv_int("app.order.items.count", items as i64));
                let c = g.internal(
                    ctx,
                    "prepareOrderItemsAndShippingQuoteFromCart",
                    t,
                    |g, ctx, t| {
                        let mut c = g
                            .cart_get(ctx, t, &user, items)
                            .require("failed to get user cart during checkout")?;
                        for &product in &products {
                            c = g
                                .product_get(ctx, c, product)
                                .require("failed to get product")?;
                            c = g
                                .currency_convert(ctx, c, currency, PRODUCTS[product].2)
                                .require("failed to convert price")?;
                        }
                        g.shipping_quote(ctx, c, items, currency)
                            .require("shipping quote failure")
                    },
                )?;
                extra.events.push(event(c, "prepared", Vec::new()));
                let amount: f64 = products.iter().map(|&p| PRODUCTS[p].2).sum();
                let c = g
                    .payment_charge(ctx, c, amount, currency)
                    .require(CHARGE_FAILED)?;
                let transaction = g.rng.uuid();
                extra.events.push(event(
                    c,
                    "charged",
                    vec![kv("app.payment.transaction.id", transaction)],
                ));
                let tracking = g.rng.uuid();
                let c = g
                    .shipping_ship(ctx, c, tracking.clone())
                    .require("shipping error")?;
                extra.events.push(event(
                    c,
                    "shipped",
                    vec![kv("app.shipping.tracking.id", tracking.clone())],
                ));
                let wait = if g.rng.chance(LOCK_WAIT) {
                    g.rng.lognormal(900.0, 0.4).max(520 * MS)
                } else {
                    0
                };
                let c = g.pg(ctx, "INSERT", "orders", SQL_ORDER, c, wait)?;
                let c = g.pg(ctx, "INSERT", "order_items", SQL_ORDER_ITEMS, c, 0)?;
                // Both best effort: a failure is logged, the order stands.
                let c = g.cart_empty(ctx, c, &user).end;
                let c = g.email_send(ctx, c, order).end;
                extra.attrs.push(kv_f64("app.order.amount", amount));
                extra.attrs.push(kv("app.shipping.tracking.id", tracking));
                Reply::ok(c + g.work(0.2))
            },
        )
    }

    /// A page or API call from a browser: the root of the trace.
    fn frontend(&mut self) {
        let user = format!("u-{}", self.rng.below(200_000));
        let session = self.rng.uuid();
        let product = self.rng.below(PRODUCTS.len() as u64) as usize;
        let (id, _, price) = PRODUCTS[product];
        let currency = self.currency();
        let page = self.rng.below(100);
        let req = match page {
            0..20 => Req::new("GET", "/", "/".into()),
            20..50 => Req::new("GET", "/product/{productId}", format!("/product/{id}")),
            50..62 => Req::new(
                "GET",
                "/api/products/{productId}",
                format!("/api/products/{id}"),
            )
            .query(format!("currencyCode={currency}")),
            62..78 => Req::new("POST", "/api/cart", "/api/cart".into()),
            78..91 => Req::new("GET", "/cart", "/cart".into()),
            _ => Req::new("POST", "/api/checkout", "/api/checkout".into()),
        };
        let items = self.items();
        let other = self.rng.below(PRODUCTS.len() as u64) as usize;
        self.serve(None, Svc::Frontend, &req, 0, move |g, ctx, t, extra| {
            extra.attrs.push(kv("app.user.id", user.clone()));
            extra.attrs.push(kv("session.id", session));
            let mut c = g.internal(ctx, "resolve page components", t, |g, _, t| {
                Ok(t + g.work(0.2))
            })?;
            match page {
                0..20 => {
                    c = g.product_list(ctx, c).require("failed to list products")?;
                    c = g.currency_list(ctx, c).end;
                    c = g.cart_get(ctx, c, &user, items.min(3) - 1).end;
                    let ads = g.ad_get(ctx, c).end;
                    let at = c + g.work(0.05);
                    let recommendations = g.reco_list(ctx, at, other).end;
                    c = ads.max(recommendations);
                }
                20..50 => {
                    c = g
                        .product_get(ctx, c, product)
                        .require("failed to get product")?;
                    c = g.currency_convert(ctx, c, currency, price).end;
                    let ads = g.ad_get(ctx, c).end;
                    let at = c + g.work(0.05);
                    let recommendations = g.reco_list(ctx, at, product).end;
                    c = ads.max(recommendations);
                    c = g.cart_get(ctx, c, &user, items.min(3) - 1).end;
                }
                50..62 => {
                    c = g
                        .product_get(ctx, c, product)
                        .require("failed to get product")?;
                    c = g
                        .currency_convert(ctx, c, currency, price)
                        .require("failed to convert price")?;
                }
                62..78 => {
                    let quantity = 1 + g.rng.below(3) as i64;
                    extra.attrs.push(kv("app.product.id", id));
                    extra.attrs.push(kv_int("app.product.quantity", quantity));
                    c = g
                        .product_get(ctx, c, product)
                        .require("failed to get product")?;
                    c = g
                        .cart_add(ctx, c, &user, product, quantity)
                        .require("failed to add to cart")?;
                }
                78..91 => {
                    c = g
                        .cart_get(ctx, c, &user, items)
                        .require("failed to get cart")?;
                    for _ in 0..items {
                        let item = g.rng.below(PRODUCTS.len() as u64) as usize;
                        c = g
                            .product_get(ctx, c, item)
                            .require("failed to get product")?;
                        c = g.currency_convert(ctx, c, currency, PRODUCTS[item].2).end;
                    }
                    c = g.shipping_quote(ctx, c, items, currency).end;
                    c = g.reco_list(ctx, c, product).end;
                }
                _ => {
                    extra
                        .attrs
                        .push(kv_int("app.cart.items.count", items as i64));
                    c = g
                        .checkout_place(ctx, c, &user, items, currency)
                        .require("failed to place order")?;
                }
            }
            Reply::ok(c + g.work(0.5))
        });
    }
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;

    use super::*;

    const START: i64 = 1_700_000_000_000_000_000;

    /// A decoded span with its service.
    struct Decoded {
        service: String,
        span: Span,
    }

    fn attr<'a>(attributes: &'a [KeyValue], key: &str) -> Option<&'a any_value::Value> {
        attributes
            .iter()
            .find(|kv| kv.key == key)
            .and_then(|kv| kv.value.as_ref())
            .and_then(|v| v.value.as_ref())
    }

    fn attr_str<'a>(attributes: &'a [KeyValue], key: &str) -> Option<&'a str> {
        match attr(attributes, key) {
            Some(any_value::Value::StringValue(s)) => Some(s),
            _ => None,
        }
    }

    fn decode(body: &[u8]) -> Vec<Decoded> {
        let request = ExportTraceServiceRequest::decode(body).unwrap();
        let mut out = Vec::new();
        for resource in request.resource_spans {
            let attributes = resource.resource.unwrap().attributes;
            let service = attr_str(&attributes, "service.name").unwrap().to_string();
            for scope in resource.scope_spans {
                assert!(!scope.scope.unwrap().name.is_empty());
                for span in scope.spans {
                    out.push(Decoded {
                        service: service.clone(),
                        span,
                    });
                }
            }
        }
        out
    }

    /// Every span of a corpus of `spans`, by trace, and the corpus.
    fn generate(
        seed: u64,
        spans: usize,
    ) -> (TraceCorpus, HashMap<Vec<u8>, Vec<Decoded>>, Vec<TraceInfo>) {
        let mut corpus = TraceCorpus::new(seed, START, START + 4 * HOUR_NS, spans);
        let mut traces: HashMap<Vec<u8>, Vec<Decoded>> = HashMap::new();
        let mut infos = Vec::new();
        while let Some(batch) = corpus.next_batch(1000) {
            let decoded = decode(&batch.body);
            assert_eq!(decoded.len(), batch.spans);
            assert!(batch.spans < 1000 + MAX_SPANS_PER_TRACE);
            let last = corpus.stats().spans >= spans;
            assert!(batch.spans >= 1000 || last);
            for d in decoded {
                traces.entry(d.span.trace_id.clone()).or_default().push(d);
            }
            infos.extend(batch.traces);
        }
        (corpus, traces, infos)
    }

    #[test]
    fn a_seed_gives_the_same_bytes() {
        let bodies = |seed| {
            let mut corpus = TraceCorpus::new(seed, START, START + HOUR_NS, 20_000);
            std::iter::from_fn(|| corpus.next_batch(1000).map(|b| b.body)).collect::<Vec<_>>()
        };
        assert_eq!(bodies(7), bodies(7));
        assert_ne!(bodies(7), bodies(8));
    }

    #[test]
    fn call_trees_are_well_formed() {
        let (corpus, traces, infos) = generate(1, 100_000);
        let services = service_names();
        assert_eq!(traces.len(), infos.len());
        assert_eq!(corpus.stats().traces, infos.len());
        for info in &infos {
            let spans = &traces[&info.id.to_vec()];
            assert_eq!(spans.len(), info.spans);
            assert!(
                (5..=MAX_SPANS_PER_TRACE).contains(&spans.len()),
                "{}",
                spans.len()
            );
            let by_id: HashMap<&[u8], &Decoded> =
                spans.iter().map(|d| (&d.span.span_id[..], d)).collect();
            assert_eq!(by_id.len(), spans.len(), "span ids are unique");
            let roots: Vec<_> = spans
                .iter()
                .filter(|d| d.span.parent_span_id.is_empty())
                .collect();
            assert_eq!(roots.len(), 1);
            assert_eq!(roots[0].service, "frontend");
            assert_eq!(roots[0].span.start_time_unix_nano as i64, info.start_ns);
            assert_eq!(roots[0].span.end_time_unix_nano as i64, info.end_ns);
            let mut children: HashMap<&[u8], Vec<&Decoded>> = HashMap::new();
            for d in spans {
                let span = &d.span;
                assert!(span.start_time_unix_nano < span.end_time_unix_nano);
                if span.parent_span_id.is_empty() {
                    continue;
                }
                let parent = by_id[&span.parent_span_id[..]];
                assert!(parent.span.start_time_unix_nano <= span.start_time_unix_nano);
                assert!(parent.span.end_time_unix_nano >= span.end_time_unix_nano);
                children
                    .entry(&span.parent_span_id[..])
                    .or_default()
                    .push(d);
                if span.kind == span::SpanKind::Server as i32 {
                    // A server span's parent is its caller's client span.
                    assert_eq!(parent.span.kind, span::SpanKind::Client as i32);
                    assert_ne!(parent.service, d.service);
                    assert_eq!(
                        attr_str(&parent.span.attributes, "server.address"),
                        Some(d.service.as_str())
                    );
                }
            }
            for d in spans {
                let span = &d.span;
                if span.kind != span::SpanKind::Client as i32 {
                    continue;
                }
                let address = attr_str(&span.attributes, "server.address").unwrap();
                let kids = children.get(&span.span_id[..]).map_or(&[][..], |k| &k[..]);
                if services.contains(&address) {
                    assert_eq!(kids.len(), 1, "a call to {address} has one server span");
                    assert_eq!(kids[0].span.kind, span::SpanKind::Server as i32);
                    assert_eq!(kids[0].service, address);
                    assert!(attr_str(&span.attributes, "url.full").is_some());
                } else {
                    assert!(kids.is_empty());
                    if attr_str(&span.attributes, "db.system").is_some() {
                        for key in ["db.statement", "db.name", "net.peer.name"] {
                            assert!(attr_str(&span.attributes, key).is_some(), "{key}");
                        }
                    }
                }
            }
            for d in spans {
                let failed = d
                    .span
                    .status
                    .as_ref()
                    .is_some_and(|s| s.code == status::StatusCode::Error as i32);
                if failed {
                    assert!(!d.span.status.as_ref().unwrap().message.is_empty());
                }
            }
        }
    }

    #[test]
    fn the_corpus_has_a_realistic_shape() {
        let (corpus, traces, infos) = generate(2, 300_000);
        let stats = corpus.stats();
        let sizes: Vec<usize> = infos.iter().map(|i| i.spans).collect();
        let small = sizes.iter().filter(|&&n| n <= 30).count() as f64 / sizes.len() as f64;
        let large = sizes.iter().filter(|&&n| n > 100).count();
        let max = sizes.iter().copied().max().unwrap();
        let errors = stats.error_spans as f64 / stats.spans as f64;
        let slow_traces = stats.matching_traces as f64 / stats.checkout_traces as f64;
        let slow_spans = stats.matching_spans as f64 / stats.checkout_spans as f64;
        eprintln!(
            "{} traces, {:.1} spans/trace, {:.1}% with <= 30 spans, {large} with > 100, max {max}; \
             {:.2}% error spans; checkout: {} traces, {:.2}% slow, {:.2}% of its spans > 500ms",
            infos.len(),
            stats.spans as f64 / infos.len() as f64,
            small * 100.0,
            errors * 100.0,
            stats.checkout_traces,
            slow_traces * 100.0,
            slow_spans * 100.0
        );
        assert!(small > 0.75, "most traces have 5-30 spans");
        assert!(large > 0 && max > 150, "a tail to 200 spans");
        assert!((0.01..=0.03).contains(&errors), "1-3% error spans");
        assert!(
            (0.02..=0.08).contains(&slow_traces),
            "a few percent of orders are slow"
        );
        assert!(slow_spans < 0.02);
        // The corpus' own count agrees with the spans.
        let mut matching = 0;
        for spans in traces.values() {
            let hit = spans.iter().any(|d| {
                d.service == SEARCH_SERVICE
                    && (d.span.end_time_unix_nano - d.span.start_time_unix_nano) as i64
                        > SEARCH_MIN_DURATION_NS
            });
            matching += usize::from(hit);
        }
        assert_eq!(matching, stats.matching_traces);
        assert_eq!(corpus.matching().len(), matching);
        assert_eq!(corpus.matching_within(START, START + 4 * HOUR_NS), matching);
        let planted = corpus.planted();
        assert!(planted.len() >= 4);
        assert!(planted.iter().any(|p| p.error_spans > 0));
        assert!(planted.iter().any(|p| p.matching_spans > 0));
    }

    #[test]
    fn traces_stay_clear_of_the_hour_cuts() {
        let end = START + 3 * HOUR_NS;
        let mut corpus = TraceCorpus::new(3, START, end, 200_000);
        let mut last_start = i64::MIN;
        let mut traces = 0;
        while let Some(batch) = corpus.next_batch(500) {
            for t in batch.traces {
                traces += 1;
                assert!(t.start_ns >= START && t.end_ns < end - CUT_MARGIN_NS + 1);
                for k in 1..3 {
                    let cut = end - k * HOUR_NS;
                    assert!(t.end_ns < cut - CUT_MARGIN_NS || t.start_ns >= cut + CUT_MARGIN_NS);
                }
                // In time order, but for the last traces pulled back before the end.
                if t.end_ns < end - 10 * 1_000_000_000 {
                    assert!(t.start_ns >= last_start);
                    last_start = t.start_ns;
                }
            }
        }
        // Spread over the whole range.
        let within = |from, to| {
            corpus
                .matching()
                .iter()
                .filter(|t| t.start_ns >= from && t.end_ns <= to)
                .count()
        };
        assert!(traces > 5_000);
        assert_eq!(
            corpus.matching_within(end - HOUR_NS, end),
            within(end - HOUR_NS, end)
        );
        assert_eq!(
            within(START, end - 2 * HOUR_NS)
                + within(end - 2 * HOUR_NS, end - HOUR_NS)
                + within(end - HOUR_NS, end),
            corpus.matching().len()
        );
    }

    /// Sizes and speed:
    /// `cargo test --release -p vigil-benches --lib trace_corpus::tests::sizes -- --ignored --nocapture`
    #[test]
    #[ignore]
    fn sizes() {
        let mut corpus = TraceCorpus::new(4, START, START + 4 * HOUR_NS, 1_000_000);
        let started = std::time::Instant::now();
        let mut bodies = Vec::new();
        while let Some(batch) = corpus.next_batch(1000) {
            bodies.push(batch.body);
        }
        let seconds = started.elapsed().as_secs_f64();
        let stats = corpus.stats();
        eprintln!(
            "{} spans, {} traces in {} batches: {:.0} bytes/span of OTLP protobuf, generated at {:.0} spans/s",
            stats.spans,
            stats.traces,
            stats.batches,
            stats.bytes as f64 / stats.spans as f64,
            stats.spans as f64 / seconds
        );
        for (batches, what) in [
            (10, "10k spans"),
            (100, "100k spans"),
            (bodies.len(), "1M spans"),
        ] {
            let raw: Vec<u8> = bodies[..batches].concat();
            let compressed = zstd::bulk::compress(&raw, 3).unwrap();
            let each: usize = bodies[..batches]
                .iter()
                .map(|b| zstd::bulk::compress(b, 3).unwrap().len())
                .sum();
            eprintln!(
                "zstd -3 of {what} ({:.1} MB): {:.1}% as one stream, {:.1}% batch by batch",
                raw.len() as f64 / 1e6,
                compressed.len() as f64 * 100.0 / raw.len() as f64,
                each as f64 * 100.0 / raw.len() as f64
            );
        }
    }
}
