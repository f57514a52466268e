"""What a session is once it leaves a device, and the API both ends speak.

The one package the client side (engine, backends, hooks, sidecar) and the sync server
both build on; it imports neither. `layout` (logical file names, the session-id
pattern; standard library only), `tokens` (path tokens), `bundle` (bundles and content
digests), `delta` (changes between versions), `wire` (the HTTP API), `version` (the
remote's format version and migrations), `errors` and `locking`.

Nothing is imported here: the SessionEnd hook imports `format.layout` on its fast path.
"""
