// Package xmlns holds the XML namespace virtswitch defines for domain
// metadata (SPEC §2, Form B). It imports nothing, so the hook can recognise
// Form B without linking the rewriter (xmlrewrite re-exports it as NS).
package xmlns

// Domain is the namespace of the <virtswitch:ports> element in a domain's
// <metadata>.
const Domain = "http://virtswitch.github.io/xmlns/domain/1.0"
