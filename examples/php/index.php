<?php
// An example merchant backend behind callback_guard, in plain PHP (7.4 or
// newer, no extensions beyond json). Run it with PHP's built-in server:
//
//     php -S 127.0.0.1:9000 examples/php/index.php
//
// Caddy has verified every callback before it arrives here, so this code
// does no cryptography: it reads the X-Callback-* headers the guard sets
// and the body, and updates an order in a JSON file (ORDERS_FILE, default
// callbackguard-orders.json in the system's temporary directory).
//
// Listen on 127.0.0.1 (or a private network) only: the X-Callback-* headers
// are trustworthy because nothing but Caddy can reach this port.
//
// GET /orders lists the orders; GET /orders/<id> shows one.

$ordersFile = getenv('ORDERS_FILE') ?: sys_get_temp_dir() . '/callbackguard-orders.json';

$method = $_SERVER['REQUEST_METHOD'];
$path = parse_url($_SERVER['REQUEST_URI'], PHP_URL_PATH);

$provider = header_value('X-Callback-Provider');
if ($provider === '') {
    if ($method === 'GET' && preg_match('#^/orders(?:/([^/]+))?/?$#', $path, $m)) {
        $store = load_store($ordersFile);
        if (isset($m[1]) && $m[1] !== '') {
            $id = rawurldecode($m[1]);
            if (!isset($store['orders'][$id])) {
                answer(404, ['error' => 'no such order']);
            }
            answer(200, $store['orders'][$id]);
        }
        answer(200, $store['orders'] ?: new stdClass());
    }
    // Not from the guard: someone reached the backend directly.
    answer(403, ['error' => 'not a callback from callback_guard']);
}

$cb = [
    'provider'    => $provider,
    'verified'    => header_value('X-Callback-Verified'),
    'callback_id' => header_value('X-Callback-Id'),
    'attempt'     => (int) (header_value('X-Callback-Attempt') ?: '1'),
    'event'       => header_value('X-Callback-Event'),
    'outcome'     => header_value('X-Callback-Outcome'),
];
// Each callback comes with the one method its provider sends: a POST, or a
// GET for Glopal's signed confirmation URL, which the buyer's browser
// opens. Anything else is refused: the guard verifies every method but
// deduplicates only POST, PUT and PATCH, and a buyer holding a signed URL
// of their own could otherwise POST a body of their choosing to it.
$expected = ($provider === 'glopal' && strpos($cb['verified'], 'signed_url') !== false) ? 'GET' : 'POST';
if ($method !== $expected) {
    header('Allow: ' . $expected);
    answer(405, ['error' => 'a ' . $provider . ' callback comes as ' . $expected]);
}
$body = file_get_contents('php://input');
$json = json_decode($body, true);
if (!is_array($json)) {
    $json = [];
}

// Which order, and what happened to it, per provider.
$order = '';
$status = null;
switch ($provider) {
    case 'glopal':
        if (strpos($cb['verified'], 'signed_url') !== false) {
            // The buyer's browser on the signed success URL: .../<ORDER_ID>.
            $order = rawurldecode(basename($path));
            $cb['event'] = 'confirmation_page';
            $status = 'confirmed';
        } else {
            $order = (string) ($json['checkout_id'] ?? '');
            $cb['event'] = (string) ($json['type'] ?? '');
            $status = $cb['event'] === 'CHECKOUT_PURCHASE' ? 'placed' : 'reserved';
        }
        break;
    case 'globiance':
        $order = (string) ($json['checkoutId'] ?? '');
        break;
    case 'avarda':
        $order = (string) ($json['purchaseId'] ?? '');
        break;
    case 'payglocal':
        $claims = claims();
        $order = (string) ($claims['merchantUniqueId'] ?? $claims['gid'] ?? '');
        break;
    default:
        $order = (string) ($json['order_id'] ?? $json['id'] ?? '');
        if ($cb['event'] === '') {
            $cb['event'] = (string) ($json['type'] ?? '');
        }
}
if ($status === null) {
    $status = status_of($cb['outcome']);
}
if ($order === '') {
    answer(422, ['error' => 'no order id in the callback']);
}

// Read, update and write the file under a lock.
$lock = fopen($ordersFile . '.lock', 'c');
flock($lock, LOCK_EX);
$store = load_store($ordersFile);

// Idempotency: the guard deduplicates, but its memory store forgets on a
// restart, and keys expire; an X-Callback-Id seen before is answered again
// without being applied twice.
if ($cb['callback_id'] !== '' && isset($store['callbacks'][$cb['callback_id']])) {
    $seen = $store['callbacks'][$cb['callback_id']];
    flock($lock, LOCK_UN);
    error_log(sprintf('%s %s: duplicate of %s, not applied again', $provider, $order, $cb['callback_id']));
    answer(200, ['ok' => true, 'order' => $seen['order'], 'status' => $seen['status'], 'duplicate' => true]);
}

$now = gmdate('Y-m-d\TH:i:s\Z');
$o = $store['orders'][$order] ?? ['id' => $order, 'provider' => $provider, 'status' => 'received', 'events' => []];
if ($status !== '') {
    $o['status'] = $status;
}
$o['events'][] = $cb + ['status' => $o['status'], 'at' => $now];
$o['updated_at'] = $now;
$o['last_headers'] = callback_headers();
$store['orders'][$order] = $o;
if ($cb['callback_id'] !== '') {
    $store['callbacks'][$cb['callback_id']] = ['order' => $order, 'status' => $o['status'], 'at' => $now];
}
save_store($ordersFile, $store);
flock($lock, LOCK_UN);

error_log(sprintf('%s %s by %s: order %s is %s (event %s, attempt %d)',
    $provider, $method, $cb['verified'], $order, $o['status'], $cb['event'] ?: '-', $cb['attempt']));
answer(200, ['ok' => true, 'order' => $order, 'status' => $o['status'], 'duplicate' => false]);

// ---------------------------------------------------------------------------

function header_value($name)
{
    $key = 'HTTP_' . strtoupper(str_replace('-', '_', $name));
    return isset($_SERVER[$key]) ? (string) $_SERVER[$key] : '';
}

// The X-Callback-* headers, as received.
function callback_headers()
{
    $out = [];
    foreach ($_SERVER as $k => $v) {
        if (strpos($k, 'HTTP_X_CALLBACK_') === 0) {
            $name = str_replace(' ', '-', ucwords(strtolower(str_replace('_', ' ', substr($k, 5)))));
            $out[$name] = $v;
        }
    }
    ksort($out);
    return $out;
}

// PayGlocal's claims, as the guard verified them: X-Callback-Claims
// (forward_claims header, the payglocal default). Never the x-gl-token of
// the body: parsing a token again here could read one the guard did not
// verify.
function claims()
{
    $b64 = strtr(header_value('X-Callback-Claims'), '-_', '+/');
    $b64 .= str_repeat('=', (4 - strlen($b64) % 4) % 4);
    $claims = json_decode((string) base64_decode($b64), true);
    return is_array($claims) ? $claims : [];
}

// X-Callback-Outcome to the order's status; '' leaves it as it is.
function status_of($outcome)
{
    switch ($outcome) {
        case 'success':
            return 'paid';
        case 'pending':
            return 'pending';
        case 'failure':
            return 'failed';
    }
    return '';
}

function load_store($file)
{
    $s = is_file($file) ? json_decode((string) file_get_contents($file), true) : null;
    if (!is_array($s)) {
        $s = [];
    }
    return $s + ['orders' => [], 'callbacks' => []];
}

function save_store($file, $store)
{
    foreach (['orders', 'callbacks'] as $k) {
        if (empty($store[$k])) {
            $store[$k] = new stdClass();
        }
    }
    $tmp = $file . '.tmp';
    file_put_contents($tmp, json_encode($store, JSON_PRETTY_PRINT | JSON_UNESCAPED_SLASHES) . "\n");
    rename($tmp, $file);
}

function answer($status, $data)
{
    http_response_code($status);
    header('Content-Type: application/json');
    echo json_encode($data, JSON_UNESCAPED_SLASHES), "\n";
    exit;
}
