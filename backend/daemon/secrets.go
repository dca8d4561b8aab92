package daemon

import (
	"context"
	"errors"
	"fmt"
	"sync/atomic"

	"github.com/dbfleet/terraform-provider-dbfleet/backend/secrets"
	"github.com/dbfleet/terraform-provider-dbfleet/backend/store"
)

// secretBox is the store's secrets.Box, counting the values it read that
// were stored before encryption at rest was configured.
type secretBox struct {
	*secrets.Box
	unsealed atomic.Int64
}

func newSecretBox(key []byte) (*secretBox, error) {
	if len(key) == 0 {
		return nil, errors.New("a secret key is required to encrypt database passwords at rest: set secret_key_file (or DBFLEET_SECRET_KEY_FILE) to a file holding 64 hex digits, such as the output of openssl rand -hex 32")
	}
	box, err := secrets.NewAESGCM(key)
	if err != nil {
		return nil, err
	}
	return &secretBox{Box: box}, nil
}

func (b *secretBox) Open(value string) (string, error) {
	if value != "" && !secrets.Sealed(value) {
		b.unsealed.Add(1)
	}
	return b.Box.Open(value)
}

// sealStoredSecrets encrypts the passwords a state file from before
// encryption at rest holds in plain text. It reads every database, and
// writes them all back (sealing each) only when one was plain.
func sealStoredSecrets(ctx context.Context, st store.Store, box *secretBox) (int, error) {
	before := box.unsealed.Load()
	var sealed int
	err := st.InTx(ctx, func(ctx context.Context, tx store.Tx) error {
		dbs, err := tx.DatabaseList(ctx, &store.DatabaseListParams{})
		if err != nil {
			return err
		}
		if box.unsealed.Load() == before {
			return nil
		}
		for _, db := range dbs {
			if err := tx.DatabasePut(ctx, db); err != nil {
				return err
			}
		}
		sealed = len(dbs)
		return nil
	})
	if err != nil {
		return 0, fmt.Errorf("encrypt stored passwords: %w", err)
	}
	return sealed, nil
}
