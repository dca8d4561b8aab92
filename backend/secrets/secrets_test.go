package secrets_test

import (
	"encoding/base64"
	"encoding/hex"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/dbfleet/terraform-provider-dbfleet/backend/secrets"
	"github.com/dbfleet/terraform-provider-dbfleet/backend/store"
)

var _ store.SecretBox = (*secrets.Box)(nil)

func newBox(t *testing.T, fill byte) *secrets.Box {
	t.Helper()
	key := make([]byte, secrets.KeySize)
	for i := range key {
		key[i] = fill
	}
	b, err := secrets.NewAESGCM(key)
	require.NoError(t, err)
	return b
}

func TestBox(t *testing.T) {
	t.Parallel()
	const password = "Zq8sV1mWc3Lr0pXa9TbN4yKe6HdJu2Gf"

	t.Run("SealsAndOpens", func(t *testing.T) {
		t.Parallel()
		b := newBox(t, 1)
		sealed, err := b.Seal(password)
		require.NoError(t, err)
		require.NotContains(t, sealed, password)
		require.True(t, secrets.Sealed(sealed))
		again, err := b.Seal(password)
		require.NoError(t, err)
		require.NotEqual(t, sealed, again, "a fresh nonce every time: equal passwords do not show as equal")
		plain, err := b.Open(sealed)
		require.NoError(t, err)
		require.Equal(t, password, plain)
	})

	t.Run("RefusesAnotherKey", func(t *testing.T) {
		t.Parallel()
		sealed, err := newBox(t, 1).Seal(password)
		require.NoError(t, err)
		_, err = newBox(t, 2).Open(sealed)
		require.ErrorContains(t, err, "does not decrypt with this key")
		require.NotContains(t, err.Error(), sealed)
	})

	t.Run("RefusesTampering", func(t *testing.T) {
		t.Parallel()
		b := newBox(t, 1)
		sealed, err := b.Seal(password)
		require.NoError(t, err)
		raw, err := base64.RawStdEncoding.DecodeString(strings.TrimPrefix(sealed, "enc:v1:"))
		require.NoError(t, err)
		raw[len(raw)-1] ^= 1
		_, err = b.Open("enc:v1:" + base64.RawStdEncoding.EncodeToString(raw))
		require.Error(t, err)
		_, err = b.Open("enc:v1:!!")
		require.Error(t, err)
		_, err = b.Open("enc:v1:")
		require.Error(t, err)
	})

	t.Run("PassesLegacyPlainValuesThrough", func(t *testing.T) {
		t.Parallel()
		plain, err := newBox(t, 1).Open(password)
		require.NoError(t, err)
		require.Equal(t, password, plain)
		require.False(t, secrets.Sealed(password))
	})

	t.Run("KeepsEmptyEmpty", func(t *testing.T) {
		t.Parallel()
		sealed, err := newBox(t, 1).Seal("")
		require.NoError(t, err)
		require.Empty(t, sealed)
	})

	t.Run("RefusesShortKey", func(t *testing.T) {
		t.Parallel()
		_, err := secrets.NewAESGCM(make([]byte, 16))
		require.ErrorContains(t, err, "32 bytes")
	})
}

func TestKeys(t *testing.T) {
	t.Parallel()
	key := make([]byte, secrets.KeySize)
	for i := range key {
		key[i] = byte(i)
	}

	t.Run("ParsesHexAndBase64", func(t *testing.T) {
		t.Parallel()
		for _, text := range []string{
			hex.EncodeToString(key) + "\n",
			"  " + strings.ToUpper(hex.EncodeToString(key)),
			base64.StdEncoding.EncodeToString(key),
			base64.RawURLEncoding.EncodeToString(key),
		} {
			got, err := secrets.ParseKey([]byte(text))
			require.NoError(t, err, "%q", text)
			require.Equal(t, key, got)
		}
		for _, text := range []string{"", "short", hex.EncodeToString(key[:16]), strings.Repeat("z", 64)} {
			_, err := secrets.ParseKey([]byte(text))
			require.Error(t, err, "%q", text)
			if text != "" {
				require.NotContains(t, err.Error(), text, "errors never quote the key")
			}
		}
	})

	t.Run("EnsureKeyFileMakesOnePrivateKeyAndKeepsIt", func(t *testing.T) {
		t.Parallel()
		path := filepath.Join(t.TempDir(), "secret.key")
		first, err := secrets.EnsureKeyFile(path)
		require.NoError(t, err)
		require.Len(t, first, secrets.KeySize)
		info, err := os.Stat(path)
		require.NoError(t, err)
		require.Equal(t, os.FileMode(0o600), info.Mode().Perm())
		second, err := secrets.EnsureKeyFile(path)
		require.NoError(t, err)
		require.Equal(t, first, second, "a restart reads the same key")
	})

	t.Run("ResolvesConfigThenEnvironment", func(t *testing.T) {
		t.Parallel()
		dir := t.TempDir()
		configFile := filepath.Join(dir, "config.key")
		envFile := filepath.Join(dir, "env.key")
		other := make([]byte, secrets.KeySize)
		require.NoError(t, os.WriteFile(configFile, []byte(hex.EncodeToString(key)), 0o600))
		require.NoError(t, os.WriteFile(envFile, []byte(hex.EncodeToString(other)), 0o600))
		env := map[string]string{secrets.EnvKeyFile: envFile, secrets.EnvKey: base64.StdEncoding.EncodeToString(key)}
		getenv := func(k string) string { return env[k] }

		got, err := secrets.ResolveKey(configFile, getenv)
		require.NoError(t, err)
		require.Equal(t, key, got, "the configuration first")
		got, err = secrets.ResolveKey("", getenv)
		require.NoError(t, err)
		require.Equal(t, other, got, "then DBFLEET_SECRET_KEY_FILE")
		delete(env, secrets.EnvKeyFile)
		got, err = secrets.ResolveKey("", getenv)
		require.NoError(t, err)
		require.Equal(t, key, got, "then DBFLEET_SECRET_KEY")
		delete(env, secrets.EnvKey)
		_, err = secrets.ResolveKey("", getenv)
		require.ErrorIs(t, err, secrets.ErrNoKey)
	})
}
