package api

import "net/http"

// databaseRotatePassword answers POST
// /v1/databases/{region}/{name}:rotate_password: 202 and the operation that
// gives the database's owner role a new password the backend generates. The
// password is in no answer here; GET the database (write scope) once the
// operation succeeded.
func (s *Server) databaseRotatePassword(w http.ResponseWriter, r *http.Request) error {
	key, err := databaseKey(r)
	if err != nil {
		return err
	}
	op, err := s.operations.DatabasePasswordRotate(r.Context(), key.Region, key.Name, requestIDFrom(r.Context()))
	if err != nil {
		return err
	}
	writeOperationAccepted(w, op)
	return nil
}
