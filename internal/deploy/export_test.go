package deploy

import "time"

// setUploadRetryEvery shortens the wait between retried uploads; it returns
// the function restoring it.
func setUploadRetryEvery(d time.Duration) func() {
	old := uploadRetryEvery
	uploadRetryEvery = d
	return func() { uploadRetryEvery = old }
}
