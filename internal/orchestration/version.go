package orchestration

import (
	"strconv"
	"strings"
)

// compareVersions orders dotted versions such as API versions ("0.8.4") and
// Prefect client versions ("3.4.11", "3.0.0rc20"). A pre-release suffix on
// the last numeric component sorts before the plain release, as in PEP 440;
// that is the only ordering the rules need.
func compareVersions(a, b string) int {
	an, apre := parseVersion(a)
	bn, bpre := parseVersion(b)
	for i := 0; i < max(len(an), len(bn)); i++ {
		var x, y int
		if i < len(an) {
			x = an[i]
		}
		if i < len(bn) {
			y = bn[i]
		}
		if x != y {
			if x < y {
				return -1
			}
			return 1
		}
	}
	switch {
	case apre == bpre:
		return 0
	case apre == "":
		return 1
	case bpre == "":
		return -1
	case apre < bpre:
		return -1
	}
	return 1
}

func parseVersion(v string) (nums []int, pre string) {
	v = strings.TrimPrefix(strings.TrimSpace(v), "v")
	for part := range strings.SplitSeq(v, ".") {
		end := 0
		for end < len(part) && part[end] >= '0' && part[end] <= '9' {
			end++
		}
		n, _ := strconv.Atoi(part[:end])
		nums = append(nums, n)
		if end < len(part) {
			pre = part[end:]
			break
		}
	}
	return nums, pre
}

// minClientVersionForLeasing is the first Prefect client that renews
// deployment concurrency leases (MIN_CLIENT_VERSION_FOR_CONCURRENCY_LIMIT_LEASING).
const minClientVersionForLeasing = "3.4.11"

// workerVersionsManagingDeploymentConcurrency are early 3.0 workers that took
// deployment slots themselves; the server must not take a second one.
var workerVersionsManagingDeploymentConcurrency = map[string]bool{
	"3.0.0rc20": true, "3.0.0": true, "3.0.1": true, "3.0.2": true, "3.0.3": true,
}
