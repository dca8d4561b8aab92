package engine

import (
	"errors"
	"net/url"
	"strings"
)

// tlsSettings is how a region's admin DSN asks to secure connections to its server, as libpq
// reads it: each key from the DSN, else from its environment variable, and sslmode "prefer"
// when neither sets it. dbfleetd hands these to every other client that connects to the server
// on its behalf, pg_dump and a replica's subscription, so that a DSN asking for verify-full is
// never weakened to "require".
type tlsSettings struct {
	Mode     string // sslmode
	RootCert string // sslrootcert
	Cert     string // sslcert
	Key      string // sslkey
}

// tlsKeys are the connection keys tlsSettings keeps, with libpq's environment variables.
var tlsKeys = []struct{ key, env string }{
	{"sslmode", "PGSSLMODE"},
	{"sslrootcert", "PGSSLROOTCERT"},
	{"sslcert", "PGSSLCERT"},
	{"sslkey", "PGSSLKEY"},
}

// parseTLSSettings reads the TLS keys of dsn, a URL (postgres://…?sslmode=…) or key=value
// connection string, falling back on getenv for those it does not set.
func parseTLSSettings(dsn string, getenv func(string) string) (tlsSettings, error) {
	settings, err := connectionSettings(dsn)
	if err != nil {
		return tlsSettings{}, err
	}
	values := make([]string, len(tlsKeys))
	for i, k := range tlsKeys {
		v, ok := settings[k.key]
		if !ok {
			v = getenv(k.env)
		}
		values[i] = v
	}
	s := tlsSettings{Mode: values[0], RootCert: values[1], Cert: values[2], Key: values[3]}
	if s.Mode == "" {
		s.Mode = "prefer"
	}
	return s, nil
}

// env is the settings as libpq's environment variables, for a program such as pg_dump.
// Every key is set, empty or not, so that a variable dbfleetd's own environment has cannot
// override what the DSN says.
func (s tlsSettings) env() []string {
	return []string{"PGSSLMODE=" + s.Mode, "PGSSLROOTCERT=" + s.RootCert, "PGSSLCERT=" + s.Cert, "PGSSLKEY=" + s.Key}
}

// conninfo is the settings as key=value connection-string pairs, for a connection string a
// server uses, such as a subscription's. Unset file keys are left out.
func (s tlsSettings) conninfo() string {
	pairs := []string{"sslmode=" + conninfoValue(s.Mode)}
	for _, kv := range [][2]string{{"sslrootcert", s.RootCert}, {"sslcert", s.Cert}, {"sslkey", s.Key}} {
		if kv[1] != "" {
			pairs = append(pairs, kv[0]+"="+conninfoValue(kv[1]))
		}
	}
	return strings.Join(pairs, " ")
}

// conninfoValue quotes a connection-string value as libpq reads it: in single quotes, with
// backslashes and quotes escaped by a backslash.
func conninfoValue(v string) string {
	return "'" + strings.NewReplacer(`\`, `\\`, `'`, `\'`).Replace(v) + "'"
}

// errConnString is a connection string that does not parse; it never quotes the string, which
// may hold a password.
var errConnString = errors.New("not a valid PostgreSQL connection string")

// connectionSettings parses a URL or key=value connection string into its keys.
func connectionSettings(dsn string) (map[string]string, error) {
	if strings.HasPrefix(dsn, "postgres://") || strings.HasPrefix(dsn, "postgresql://") {
		u, err := url.Parse(dsn)
		if err != nil {
			return nil, errConnString
		}
		out := map[string]string{}
		for k, v := range u.Query() {
			out[k] = v[len(v)-1]
		}
		return out, nil
	}
	return keywordValueSettings(dsn)
}

// keywordValueSettings parses "key=value key2='quoted value'" as libpq does: spaces may
// surround "=", a value is either unquoted up to the next space or single-quoted, and a
// backslash escapes the next character in both.
func keywordValueSettings(s string) (map[string]string, error) {
	out := map[string]string{}
	for {
		s = strings.TrimLeft(s, " \t\n\r\f\v")
		if s == "" {
			return out, nil
		}
		eq := strings.IndexByte(s, '=')
		if eq <= 0 {
			return nil, errConnString
		}
		key := strings.TrimRight(s[:eq], " \t\n\r\f\v")
		if strings.ContainsAny(key, " \t\n\r\f\v") {
			return nil, errConnString
		}
		s = strings.TrimLeft(s[eq+1:], " \t\n\r\f\v")
		var value strings.Builder
		quoted := strings.HasPrefix(s, "'")
		if quoted {
			s = s[1:]
		}
		closed := !quoted
		i := 0
		for ; i < len(s); i++ {
			c := s[i]
			if c == '\\' && i+1 < len(s) {
				i++
				value.WriteByte(s[i])
				continue
			}
			if quoted && c == '\'' {
				closed = true
				i++
				break
			}
			if !quoted && strings.IndexByte(" \t\n\r\f\v", c) >= 0 {
				break
			}
			value.WriteByte(c)
		}
		if !closed {
			return nil, errConnString
		}
		out[key] = value.String()
		s = s[i:]
	}
}
