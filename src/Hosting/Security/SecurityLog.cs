using Microsoft.Extensions.Logging;

namespace Granary.Hosting.Security;

/// <summary>
/// Structured audit events of the security layer. Event ids: 9100-9149 transport (TLS),
/// 9150-9199 the wall between client and internal calls, 9200-9249 identities and permissions,
/// 9250-9299 servers and secrets.
/// </summary>
internal static partial class SecurityLog
{
}
