package apiv1

// OperationKindRotatePassword gives a database's owner role a new password
// that the backend generates (POST /v1/databases/{region}/{name}:rotate_password).
const OperationKindRotatePassword = "rotate_password"
