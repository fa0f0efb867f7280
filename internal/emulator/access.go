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
