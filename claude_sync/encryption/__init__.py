"""End-to-end encryption: the Git host and the sync server see only ciphertext (docs/encryption.md).

`keys` (the account key, recovery phrase, passphrase unlock, key record, key store),
`envelope` (the AEAD frames and how a session is sealed and opened), `backend` (the
wrapper every backend is seen through: seals on push, opens on fetch, refuses rollback),
`setup` (init, join, status, show-phrase: shared by the CLI and the sidecar).
"""
