package api

import (
	"net/http"
	"regexp"
)

// clientVersionRE is Prefect's PREFECT_CLIENT_USER_AGENT_PATTERN.
var clientVersionRE = regexp.MustCompile(`^prefect/(\d+\.\d+\.\d+(?:[a-z.+0-9]+)?)(?:\s|$)`)

// requestVersions returns the X-PREFECT-API-VERSION and the client version
// parsed from the User-Agent, which some rules depend on.
func requestVersions(r *http.Request) (apiVersion, clientVersion string) {
	if m := clientVersionRE.FindStringSubmatch(r.Header.Get("User-Agent")); m != nil {
		clientVersion = m[1]
	}
	return r.Header.Get("X-Prefect-Api-Version"), clientVersion
}
