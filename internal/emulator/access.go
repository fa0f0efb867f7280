package emulator

// Identity returns the emulator's sign-in half, for tests and the demo (for example the
// environment a task needs to reach its managed identity endpoint).
func (s *Server) Identity() *Identity { return s.identity }

// IssuedTokens lists every token the emulator handed out (access, refresh and Azure DevOps ID
// tokens), so a test can prove none of them reached a log.
func (s *Server) IssuedTokens() []string {
	id := s.identity
	id.mu.Lock()
	defer id.mu.Unlock()
	return append([]string(nil), id.issued...)
}

// maxRemembered bounds the issued-token list of a long-running standalone emulator.
const maxRemembered = 10000

// remember records an issued token; id.mu must be held.
func (id *Identity) remember(token string) {
	if len(id.issued) >= maxRemembered {
		id.issued = append(id.issued[:0], id.issued[maxRemembered/2:]...)
	}
	id.issued = append(id.issued, token)
}

// DeploymentCount is how many deployments the service has accepted, over all pipelines.
func (s *Server) DeploymentCount() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	n := 0
	for _, pl := range s.st.pipelines {
		n += len(pl.ops)
	}
	return n
}
