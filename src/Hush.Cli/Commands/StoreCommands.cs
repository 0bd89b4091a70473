using System.CommandLine;
using Hush.Gateway.Configuration;
using Hush.Privacy;
using Hush.Privacy.Transforms;
using Hush.Store;
using Hush.Store.Storage;
using Hush.Store.Vault;

namespace Hush.Cli.Commands;

/// <summary>
/// <c>hush store verify</c>, <c>hush erase</c>, <c>hush keys rotate|rewrap</c>: maintenance of the embedded store.
/// Each takes the store's lock, so it refuses to run while <c>hush serve</c> holds the same data directory.
/// </summary>
internal static class StoreCommands
{
    public static Command CreateStore()
    {
        var command = new Command("store", "Inspect the embedded encrypted store.");
        var config = ConfigOption();
        var tenant = new Option<string?>("--tenant") { Description = "Only this tenant (default: every tenant)." };
        var verify = new Command("verify", "Check every block against the tenant's hash chain and signed removal records; exit 1 on any finding.");
        verify.Options.Add(config);
        verify.Options.Add(tenant);
        verify.SetAction(r => RunVerify(r.GetValue(config)?.FullName, r.GetValue(tenant), Console.Out, Console.Error));
        command.Subcommands.Add(verify);
        command.Subcommands.Add(StoreBenchCommands.CreateFill(ConfigOption()));
        command.Subcommands.Add(StoreBenchCommands.CreateBenchRead(ConfigOption()));
        return command;
    }

    public static Command CreateErase()
    {
        var config = ConfigOption();
        var tenant = new Option<string>("--tenant") { Description = "The tenant to erase from.", Required = true };
        var subject = new Option<string?>("--subject") { Description = "The raw identifier (user id, email...) whose spans and token vault entries to remove; its pseudonyms are computed, the value is never stored." };
        var all = new Option<bool>("--all") { Description = "Erase the whole tenant: destroy its keys first (crypto-shredding, its token vault included), then delete its files and vault entries." };
        var erase = new Command("erase", "Erase one subject's spans, or a whole tenant, from the store.");
        erase.Options.Add(config);
        erase.Options.Add(tenant);
        erase.Options.Add(subject);
        erase.Options.Add(all);
        erase.SetAction(r => RunErase(r.GetValue(config)?.FullName, r.GetValue(tenant)!, r.GetValue(subject), r.GetValue(all), Console.Out, Console.Error));
        return erase;
    }

    public static Command CreateKeys()
    {
        var command = new Command("keys", "Rotate and rewrap the store's per-tenant data keys.");
        foreach (var (name, description) in new[]
        {
            ("rotate", "Give the tenant (or every tenant) a new data key: new blocks use it at once; old blocks stay readable."),
            ("rewrap", "Re-encrypt the tenant's (or every tenant's) blocks that are not under its current key."),
        })
        {
            var config = ConfigOption();
            var tenant = new Option<string?>("--tenant") { Description = "Only this tenant (default: every tenant)." };
            var sub = new Command(name, description);
            sub.Options.Add(config);
            sub.Options.Add(tenant);
            sub.SetAction(r => RunKeys(name, r.GetValue(config)?.FullName, r.GetValue(tenant), Console.Out, Console.Error));
            command.Subcommands.Add(sub);
        }

        return command;
    }

    internal static int RunVerify(string? configPath, string? tenant, TextWriter output, TextWriter error, IReadOnlyDictionary<string, string?>? environment = null)
        => WithStore(configPath, error, environment, (store, _) =>
        {
            var tenants = tenant is null ? store.Tenants() : [tenant];
            var broken = 0;
            foreach (var t in tenants)
            {
                var report = store.Verify(t);
                var (blocks, spans) = store.Totals(t);
                if (report.IsIntact)
                {
                    output.WriteLine($"tenant {t}: intact ({report.BlocksChecked} blocks on disk, {blocks} live blocks, {spans} spans)");
                    continue;
                }

                broken++;
                output.WriteLine($"tenant {t}: TAMPERED");
                foreach (var finding in report.Findings)
                {
                    output.WriteLine($"  - {finding.Kind} block #{finding.BlockIndex}{(finding.Sequence is { } s ? " (sequence " + s + ")" : string.Empty)}");
                }

                if (report.ForgedRemovalRecords > 0)
                {
                    output.WriteLine($"  - {report.ForgedRemovalRecords} removal records with an invalid signature");
                }

                if (report.UnaccountedRemovals > 0)
                {
                    output.WriteLine($"  - {report.UnaccountedRemovals} blocks marked removed without a signed record");
                }
            }

            if (tenants.Count == 0)
            {
                output.WriteLine("the store holds no tenant yet");
            }

            return broken == 0 ? 0 : 1;
        });

    internal static int RunErase(string? configPath, string tenant, string? subject, bool all, TextWriter output, TextWriter error, IReadOnlyDictionary<string, string?>? environment = null)
    {
        if (string.IsNullOrWhiteSpace(tenant) || (subject is null) == !all)
        {
            error.WriteLine("hush erase: give --tenant and exactly one of --subject VALUE or --all");
            return 2;
        }

        return WithStore(configPath, error, environment, (store, config) =>
        {
            using var vault = TokenVault.Open(config.DataDir, store.Keys);
            if (all)
            {
                // The store destroys the tenant's data keys first, which shreds its vault key too; then the bytes go.
                var report = store.EraseTenant(tenant);
                var entries = vault.EraseTenant(tenant);
                output.WriteLine($"tenant {tenant}: keys destroyed, {report.Blocks} blocks ({report.Spans} spans) and {report.Files} segment files deleted, {entries} token vault entries deleted");
                return 0;
            }

            // Requests a crash (or a full disk) left in the journal reach the store at the next start: erasing now would
            // miss them and they would come back. The server replays them; then the erasure finds everything.
            if (JournalRecordsOf(config.DataDir, store.Keys, tenant) is > 0 and var pending)
            {
                error.WriteLine($"hush erase: the ingest journal still holds {pending} requests of tenant {tenant} that are not in the store yet (left by a crash or a full disk); start 'hush serve' once so it replays them, stop it, then run this erasure again. Nothing was erased.");
                return 1;
            }

            // The subject's pseudonyms under every data class the policy pseudonymizes, and the tokens the vault issued
            // for it: the raw value goes no further.
            var secret = Hush.Gateway.Privacy.PseudonymSecret.Load(config.Privacy, config.DataDir, Environment.GetEnvironmentVariable, out _);
            var keys = new DerivedPseudonymKeyProvider(secret);
            System.Security.Cryptography.CryptographicOperations.ZeroMemory(secret);
            var pseudonymizer = new Pseudonymizer(keys.GetKey(tenant));
            var needles = PseudonymizedClasses(config).SelectMany(c => SubjectForms(subject!).Select(form => pseudonymizer.Pseudonymize(c, form))).ToList();
            needles.AddRange(vault.TokensOf(tenant, subject!));
            var removed = store.EraseMatching(tenant, needles);

            // The spans first: an erasure cut short is run again and still finds the subject's tokens.
            var vaultEntries = vault.EraseSubject(tenant, subject!);
            output.WriteLine($"tenant {tenant}: removed {removed.Spans} spans carrying the subject from {removed.Blocks} blocks; every other span of those blocks was kept; deleted {vaultEntries} token vault entries (its tokens no longer resolve)");
            if (removed.Unreadable > 0)
            {
                // The vault entries are gone, so tokens in those blocks cannot be resolved; pseudonyms there remain.
                error.WriteLine($"hush: INCOMPLETE: {removed.Unreadable} blocks of tenant {tenant} do not decrypt (corrupted or tampered with) and could not be searched; run 'hush store verify --tenant {tenant}'");
                return 1;
            }

            return 0;
        });
    }

    internal static int RunKeys(string action, string? configPath, string? tenant, TextWriter output, TextWriter error, IReadOnlyDictionary<string, string?>? environment = null)
        => WithStore(configPath, error, environment, (store, config) =>
        {
            using var vault = TokenVault.Open(config.DataDir, store.Keys);
            var tenants = tenant is null ? store.Tenants() : [tenant];
            var unreadable = 0;
            foreach (var t in tenants)
            {
                if (action == "rotate")
                {
                    var key = store.Keys.Rotate(t);
                    output.WriteLine($"tenant {t}: new data key {key.Id}; older keys kept for reading until 'hush keys rewrap'");
                }
                else
                {
                    var rewrapped = store.Rewrap(t);
                    output.WriteLine($"tenant {t}: re-encrypted {rewrapped.Blocks} blocks under key {store.Keys.GetActiveKey(t).Id}");
                    if (rewrapped.Unreadable > 0)
                    {
                        unreadable += rewrapped.Unreadable;
                        error.WriteLine($"hush: tenant {t}: {rewrapped.Unreadable} blocks do not decrypt (corrupted or tampered with); they were left as they are, under their old key: run 'hush store verify --tenant {t}'");
                    }
                }

                // Rewrap seals it too: a vault created before a rotation by an older Hush, or a rotation cut short.
                if (vault.Reseal(t))
                {
                    output.WriteLine($"tenant {t}: token vault key sealed under key {store.Keys.GetActiveKey(t).Id}");
                }
            }

            return unreadable == 0 ? 0 : 1;
        });

    /// <summary>
    /// The spellings of one subject that may have been pseudonymized on their own: as given, trimmed, lower-cased,
    /// and for an address with <c>@</c> its URL-encoded form (<c>%40</c>, as detectors find it in query strings).
    /// Pseudonyms are of the exact text, so each spelling is its own needle; erasing an id that differs only in case
    /// is the safe side, as the vault's subject matching is.
    /// </summary>
    internal static IEnumerable<string> SubjectForms(string subject)
    {
        var forms = new HashSet<string>(StringComparer.Ordinal) { subject, subject.Trim(), subject.Trim().ToLowerInvariant() };
        foreach (var form in forms.Where(f => f.Contains('@', StringComparison.Ordinal)).ToList())
        {
            forms.Add(form.Replace("@", "%40", StringComparison.Ordinal));
        }

        forms.Remove(string.Empty);
        return forms;
    }

    /// <summary>How many records the journal of <paramref name="dataDirectory"/> holds for <paramref name="tenant"/> (none are released).</summary>
    private static int JournalRecordsOf(string dataDirectory, KeyRing keys, string tenant)
    {
        var journal = Hush.Store.Journal.IngestJournal.Open(dataDirectory, keys);
        try
        {
            return journal.RecoveredCount == 0 ? 0 : journal.Recover().Count(r => string.Equals(r.Tenant, tenant, StringComparison.Ordinal));
        }
        finally
        {
            journal.DisposeAsync().AsTask().GetAwaiter().GetResult();
        }
    }

    private static SortedSet<string> PseudonymizedClasses(HushConfig config)
    {
        var loaded = config.Privacy.PolicyPath is { } path ? PolicyLoader.LoadFile(path) : PolicyLoader.LoadDefault();
        var classes = new SortedSet<string>(StringComparer.Ordinal);
        if (loaded.Policy is { } policy)
        {
            foreach (var rule in policy.Document.Rules.Where(r => r.Action == PolicyAction.Pseudonymize))
            {
                classes.Add(rule.DataClass);
            }

            foreach (var (dataClass, action) in policy.Document.OnDetect)
            {
                if (action == PolicyAction.Pseudonymize)
                {
                    classes.Add(dataClass);
                }
            }
        }

        return classes;
    }

    internal static int WithStore(string? configPath, TextWriter error, IReadOnlyDictionary<string, string?>? environment, Func<TraceStore, HushConfig, int> action)
    {
        var loaded = configPath is null ? HushConfigLoader.LoadDefault(environment) : HushConfigLoader.LoadFile(configPath, environment);
        if (loaded.Config is not { } config)
        {
            error.WriteLine($"hush: the config{(configPath is null ? string.Empty : " " + configPath)} is invalid ({loaded.Errors.Count} errors):");
            foreach (var problem in loaded.Errors)
            {
                error.WriteLine("  - " + problem);
            }

            return 1;
        }

        var storeConfig = config.Pipeline.Exporters.OfType<StoreExporterConfig>().FirstOrDefault();
        var kekFile = storeConfig?.KekFile;
        try
        {
            using var ownership = StoreLock.Acquire(config.DataDir);
            using var kek = KeyEncryptionKey.Load(config.DataDir, kekFile, Environment.GetEnvironmentVariable, out _);
            using var store = TraceStore.Open(config.DataDir, kek, storeConfig?.StoreOptions());
            return action(store, config);
        }
        catch (Exception ex) when (ex is IOException or KeyStoreException or TokenVaultException or UnauthorizedAccessException or InvalidOperationException)
        {
            error.WriteLine("hush: " + ex.Message);
            return 1;
        }
    }

    private static Option<FileInfo?> ConfigOption() => new("--config", "-c")
    {
        HelpName = "FILE",
        Description = "The config whose store to use (service.data_dir). Without it: the embedded default's, ./hush-data.",
    };
}
