using System.Collections.Frozen;
using System.Globalization;
using System.Security.Cryptography;
using System.Text;
using Granary.Caching;

namespace Granary.Server.Resp;

/// <summary>
/// The Lua scripts the endpoint recognises, without running Lua: a script sent by <c>EVAL</c> (or named by
/// its SHA1 in <c>EVALSHA</c>) whose text is exactly one of <see cref="KnownScripts"/> runs as the cache's
/// native command that does the same in one step on the key's shard. <c>SCRIPT LOAD</c> of such a text
/// answers its SHA1 and <c>SCRIPT EXISTS</c> knows those SHA1s; any other script is refused as before.
/// </summary>
internal sealed partial class RespConnection
{
    /// <summary>
    /// The recognised scripts (their exact text, as DistributedLock.Redis sends them through StackExchange.Redis),
    /// with the native command each becomes and how many ARGV it reads.
    /// </summary>
    internal static readonly FrozenDictionary<string, KnownScript> KnownScripts = new KnownScript[]
    {
        // Release a lock: delete the key if it still holds the owner's token.
        new("if redis.call('get', KEYS[1]) == ARGV[1] then return redis.call('del', KEYS[1]) end return 0", "DELIFEQ", 1),

        // Extend a lock: PEXPIRE the key if it still holds the owner's token.
        new("if redis.call('get', KEYS[1]) == ARGV[1] then return redis.call('pexpire', KEYS[1], ARGV[2]) end return 0", "PEXPIREIFEQ", 2),
    }.ToFrozenDictionary(s => s.Sha1, StringComparer.Ordinal);

    private static bool IsScriptCommand(string name) => IsOneOf(name, "EVAL", "EVALSHA", "SCRIPT");

    /// <summary>
    /// Answers <c>SCRIPT LOAD|EXISTS</c>, or turns <c>EVAL</c>/<c>EVALSHA</c> of a recognised script into its
    /// native command (returned, to be dispatched as any cache command). Null when the command was answered
    /// here; a command that is not about a recognised script gets the 'not supported' refusal.
    /// </summary>
    private async Task<string[]?> ScriptAsync(string[] args, CancellationToken token)
    {
        var name = args[0].ToUpperInvariant();
        if (name == "SCRIPT")
        {
            if (_transaction is not null)
            {
                // Queued as any refused command: the EXEC is aborted.
                return args;
            }

            await RunPendingAsync(token);
            Reply(ScriptSubcommand(args));
            return null;
        }

        if (args.Length < 3)
        {
            await RefuseAsync(RedisText.Arity(name.ToLowerInvariant()), token);
            return null;
        }

        if (!RedisText.TryParseInt64(args[2], out var keys))
        {
            await RefuseAsync(RedisText.NotInteger, token);
            return null;
        }

        if (keys < 0)
        {
            await RefuseAsync("ERR Number of keys can't be negative", token);
            return null;
        }

        if (keys > args.Length - 3)
        {
            await RefuseAsync("ERR Number of keys can't be greater than number of args", token);
            return null;
        }

        KnownScript? script;
        if (name == "EVAL")
        {
            script = KnownScripts.GetValueOrDefault(Sha1Of(args[1]));
            if (script is null || !string.Equals(script.Text, args[1], StringComparison.Ordinal))
            {
                await RefuseAsync(RespText.NotSupported(name, RespText.Unsupported[name]), token);
                return null;
            }
        }
        else if (!KnownScripts.TryGetValue(args[1].ToLowerInvariant(), out script))
        {
            await RefuseAsync(RespText.NoScript, token);
            return null;
        }

        var argv = args.Length - 3 - (int)keys;
        if (keys < 1 || argv < script.Arguments)
        {
            await RefuseAsync(RespText.ScriptShape(script.Arguments), token);
            return null;
        }

        // KEYS[1], then ARGV[1..n]: the native command's arguments in the script's order.
        return [script.Command, args[3], .. args.AsSpan(3 + (int)keys, script.Arguments)];
    }

    private static CacheReply ScriptSubcommand(string[] args)
    {
        var sub = args.Length > 1 ? args[1].ToUpperInvariant() : null;
        switch (sub)
        {
            case "LOAD" when args.Length == 3:
                return KnownScripts.TryGetValue(Sha1Of(args[2]), out var script) && string.Equals(script.Text, args[2], StringComparison.Ordinal)
                    ? CacheReply.Bulk(script.Sha1)
                    : CacheReply.Error(RespText.NotSupported("SCRIPT LOAD", RespText.Unsupported["SCRIPT"]));
            case "EXISTS" when args.Length >= 3:
                return CacheReply.Array([.. args.Skip(2).Select(sha => KnownScripts.ContainsKey(sha.ToLowerInvariant()) ? CacheReply.One : CacheReply.Zero)]);
            case "LOAD" or "EXISTS":
                return CacheReply.Error($"ERR wrong number of arguments for 'script|{sub.ToLowerInvariant()}' command");
            case null:
                return CacheReply.Error(RedisText.Arity("script"));
            default:
                return CacheReply.Error(RespText.NotSupported("SCRIPT " + sub, RespText.Unsupported["SCRIPT"]));
        }
    }

    private static string Sha1Of(string text)
    {
        // SHA1 names scripts in Redis's protocol (EVALSHA); it is not used for security here.
#pragma warning disable CA5350
        return Convert.ToHexStringLower(SHA1.HashData(CacheBytes.GetBytes(text)));
#pragma warning restore CA5350
    }

    /// <summary>A recognised script: its text and SHA1, the native cache command it runs as, and how many ARGV it reads.</summary>
    internal sealed record KnownScript(string Text, string Command, int Arguments)
    {
        /// <summary>The SHA1 of the text, lower-case hex, as <c>SCRIPT LOAD</c> answers it.</summary>
        public string Sha1 { get; } = Sha1Of(Text);
    }
}
