using System.Diagnostics;
using System.IO.Compression;
using System.Reflection;
using System.Text;
using Microsoft.ML;
using Microsoft.ML.Data;
using ReverseSD.Cli;
using ReverseSD.MLNet.Backbones;
using ReverseSD.MLNet.Data;
using ReverseSD.MLNet.Heads;
using ReverseSD.MLNet.Pipeline;
using Spectre.Console.Cli.Testing;
using YamlDotNet.RepresentationModel;
using static ReverseSD.MLNet.Tests.Backbones.BackboneTestData;

namespace ReverseSD.MLNet.Tests.Backbones;

/// <summary>
/// The scale-out path: the deploy/ job specs parse, and their command lines, run here as separate processes, fill one
/// cache that merges to the single-process one (Kubernetes Indexed Job and Slurm array task, without a scheduler).
/// </summary>
public sealed class ShardedFeaturizeTests
{
    private static string Deploy(params string[] parts) => Path.Combine([SharedData.RepoRoot, "deploy", .. parts]);

    [Fact]
    public void KubernetesJobIsAnIndexedJobWithPerIndexRetriesSharedVolumesAndResourceRequests()
    {
        var job = KubernetesJob.Read();

        Assert.Equal("batch/v1", job.Root.Scalar("apiVersion"));
        Assert.Equal("Job", job.Root.Scalar("kind"));
        Assert.Equal("Indexed", job.Spec.Scalar("completionMode"));
        Assert.True(int.Parse(job.Spec.Scalar("backoffLimitPerIndex")!) >= 1);
        Assert.True(int.Parse(job.Spec.Scalar("parallelism")!) >= 1);
        Assert.Equal("Never", job.Pod.Scalar("restartPolicy"));   // backoffLimitPerIndex needs it
        Assert.Equal("featurize", job.Args[0]);
        Assert.Equal(job.Completions.ToString(System.Globalization.CultureInfo.InvariantCulture), job.Args[job.Args.IndexOf("--shard") + 1]);
        Assert.NotNull(job.Container.Map("resources").Map("requests").Scalar("cpu"));
        Assert.NotNull(job.Container.Map("resources").Map("requests").Scalar("memory"));
        Assert.Equal(["/cache", "/data"], job.Mounts.Keys.Order());
        Assert.Equal(job.Mounts["/data"], job.Args[job.Args.IndexOf("--data") + 1]);
        Assert.Equal(job.Mounts["/cache"], job.Args[job.Args.IndexOf("--cache-dir") + 1]);
    }

    [Fact]
    public void SlurmScriptIsAJobArrayAndDockerfileIsAMultiStageSdkToRuntimeBuild()
    {
        string script = File.ReadAllText(Deploy("slurm", "featurize.sbatch"));
        Assert.Matches(@"(?m)^#SBATCH --array=0-\d+", script);
        Assert.Contains("--shard \"${SLURM_ARRAY_TASK_COUNT", script);
        var from = File.ReadAllLines(Deploy("Dockerfile")).Where(l => l.StartsWith("FROM ", StringComparison.Ordinal)).ToList();
        Assert.Equal(2, from.Count);
        Assert.Contains("dotnet/sdk:10.0 AS build", from[0]);
        Assert.Contains("dotnet/runtime:10.0", from[1]);
        Assert.Contains(File.ReadAllLines(Deploy("Dockerfile")), l => l.StartsWith("ENTRYPOINT", StringComparison.Ordinal) && l.Contains("reversesd.dll"));
    }

    [Fact]
    public void FeaturizeCommandRefusesAnotherShardCountAndReportsStatus()
    {
        using var dir = new TempDirectory();
        WriteDataset(dir.File("data"), "train", 6);
        string model = WriteChannelMeanModel(dir.File("tiny.onnx"));
        string[] common = ["featurize", "--data", dir.File("data"), "--backbone", model, "--preprocessing", "size=16", "--cache-dir", dir.File("cache")];

        var first = Run([.. common, "--shard", "0/3"]);
        var mixed = Run([.. common, "--shard", "1/2"]);
        var status = Run(["featurize", "--status", "--cache-dir", dir.File("cache")]);

        Assert.Equal(0, first.ExitCode);
        Assert.Contains("train shard 0/3:", first.Output);
        Assert.Equal(CliApp.BadInput, mixed.ExitCode);
        Assert.Contains("written by 3 shards", mixed.Output);
        Assert.Equal(0, status.ExitCode);
        Assert.Contains("3 shard(s)", status.Output);
        Assert.Contains("incomplete", status.Output);
        Assert.Matches(@"shard 0/3: (\d+)/\1 chunks done", status.Output);
        Assert.Contains("shard 1/3: 0/", status.Output);

        static CommandAppResult Run(string[] args)
        {
            var tester = new CommandAppTester();
            tester.Configure(CliApp.Configure);
            return tester.Run(args);
        }
    }

    [Fact]
    [Trait("Category", "Slow")]
    public void KubernetesJobCommandOnThreeConcurrentIndexesMergesToTheSingleProcessCacheAndTrainsAByteIdenticalModel()
    {
        using var dir = new TempDirectory();
        string data = GenerateNinetyImages(dir.File("data"));
        var job = KubernetesJob.Read();
        Assert.Equal(3, job.Completions);
        var local = new Dictionary<string, string> { [job.Mounts["/data"]] = data, [job.Mounts["/cache"]] = dir.File("sharded") };
        var args = job.Args.Select(a => local.GetValueOrDefault(a, a)).ToList();

        var pods = Enumerable.Range(0, job.Completions)
            .Select(k => ChildProcess.Start(dir, args, new() { ["JOB_COMPLETION_INDEX"] = k.ToString(System.Globalization.CultureInfo.InvariantCulture) }))
            .ToList();
        foreach (var pod in pods) pod.WaitForSuccess();

        var ml = new MLContext(seed: 1);
        var backbone = ImageBackbone.Resolve(args[args.IndexOf("--backbone") + 1]);
        foreach (string split in ImageFolderDataset.Splits)
        {
            var merged = FeatureCache.GetOrCompute(ml, backbone, data, split, dir.File("sharded"));
            var single = FeatureCache.GetOrCompute(ml, backbone, data, split, dir.File("single"));
            Assert.True(merged.FromCache);
            AssertSameRows(ml, single, merged);
        }
        Assert.All(FeatureCache.Status(dir.File("sharded")), s => Assert.True(s.IsComplete && s.Shards == 3));

        string fromShards = TrainTinyModel(ml, data, dir.File("sharded"), dir.File("sharded.zip"));
        string fromSingle = TrainTinyModel(ml, data, dir.File("single"), dir.File("single.zip"));
        Assert.Equal(ZipContents(fromSingle), ZipContents(fromShards));
    }

    [Fact]
    [Trait("Category", "Slow")]
    public void SlurmArrayTaskKilledAfterItsFirstChunkResumesWithNoRowLostOrDuplicated()
    {
        using var dir = new TempDirectory();
        string data = GenerateNinetyImages(dir.File("data"));
        string cache = dir.File("cache");
        Dictionary<string, string> Task(int k) => new()
        {
            ["DATA"] = data, ["CACHE"] = cache, ["CHUNK_SIZE"] = "4", ["REVERSESD"] = $"dotnet {ChildProcess.Dll}",
            ["SLURM_ARRAY_TASK_ID"] = k.ToString(System.Globalization.CultureInfo.InvariantCulture), ["SLURM_ARRAY_TASK_COUNT"] = "3",
        };
        string script = Deploy("slurm", "featurize.sbatch");

        var task = ChildProcess.Start(dir, [script], Task(1), "bash");
        string? firstChunk = null;
        var clock = Stopwatch.StartNew();
        while (firstChunk == null && !task.Process.HasExited && clock.Elapsed < TimeSpan.FromMinutes(5))
        {
            Thread.Sleep(20);
            firstChunk = Directory.Exists(cache) ? Directory.GetFiles(cache, "chunk-000000.bin", SearchOption.AllDirectories).FirstOrDefault() : null;
        }
        Assert.False(task.Process.HasExited, $"the task ended before its first chunk was seen: {task.Output}");
        Assert.NotNull(firstChunk);
        task.Process.Kill(entireProcessTree: true);   // SIGKILL: no clean-up code runs
        task.Process.WaitForExit();
        var atKill = Assert.Single(FeatureCache.Status(cache));
        Assert.InRange(atKill.ChunksDone[1], 1, atKill.ChunksTotal[1] - 1);

        var rerun = ChildProcess.Start(dir, [script], Task(1), "bash");
        rerun.WaitForSuccess();
        var resumed = System.Text.RegularExpressions.Regex.Match(rerun.Output, @"train shard 1/3: \d+ rows .* (\d+) featurised now, (\d+) already done");
        Assert.True(resumed.Success, rerun.Output);
        Assert.True(int.Parse(resumed.Groups[2].Value) >= 1, rerun.Output);
        foreach (var other in new[] { ChildProcess.Start(dir, [script], Task(0), "bash"), ChildProcess.Start(dir, [script], Task(2), "bash") })
            other.WaitForSuccess();

        var ml = new MLContext(seed: 1);
        foreach (string split in ImageFolderDataset.Splits)
        {
            var merged = FeatureCache.GetOrCompute(ml, ImageBackbone.ResNet18, data, split, cache);
            var single = FeatureCache.GetOrCompute(ml, ImageBackbone.ResNet18, data, split, dir.File("single"));
            Assert.Equal(ImageFolderDataset.Read(data, split).Count, merged.Rows);
            AssertSameRows(ml, single, merged);
        }
    }

    /// <summary>60 train + 15 validation + 15 test generated images.</summary>
    private static string GenerateNinetyImages(string folder)
    {
        SyntheticBenchmark.Generate(new SyntheticBenchmarkOptions { Train = 60, Validation = 15, Test = 15, ImageSize = 64, Seed = 12 }, folder);
        return folder;
    }

    private static string TrainTinyModel(MLContext ml, string data, string cache, string zip)
    {
        using var model = ReverseSdModel.Train(ml, data, new ReverseSdTrainingOptions
        {
            CacheDirectory = cache, VocabularySize = 50,
            Heads = new PromptEmbeddingHeadsTrainer.Options { NumberOfEpochs = 2, BatchSize = 16, Seed = 1, Device = HeadsDevice.Cpu },
        });
        model.Save(zip);
        return zip;
    }

    /// <summary>Every entry of a zip as name → bytes (entry time stamps are the save time, so the files themselves differ).</summary>
    private static List<(string Name, string Sha256)> ZipContents(string zip)
    {
        using var archive = ZipFile.OpenRead(zip);
        return archive.Entries.Select(e =>
        {
            using var s = e.Open();
            return (e.FullName, Convert.ToHexString(System.Security.Cryptography.SHA256.HashData(s)));
        }).OrderBy(e => e.FullName, StringComparer.Ordinal).ToList();
    }

    private sealed class CachedRow
    {
        public string ImagePath { get; set; } = "";
        public string Prompt { get; set; } = "";
        public float[] ImageFeatures { get; set; } = [];
    }

    private static void AssertSameRows(MLContext ml, FeatureCacheResult expected, FeatureCacheResult actual)
    {
        var a = ml.Data.CreateEnumerable<CachedRow>(expected.Data, false).ToList();
        var b = ml.Data.CreateEnumerable<CachedRow>(actual.Data, false).ToList();
        Assert.Equal(a.Select(r => r.ImagePath), b.Select(r => r.ImagePath));
        Assert.Equal(b.Count, b.Select(r => r.ImagePath).Distinct().Count());
        Assert.Equal(a.Select(r => r.Prompt), b.Select(r => r.Prompt));
        for (int i = 0; i < a.Count; i++) Assert.Equal(a[i].ImageFeatures, b[i].ImageFeatures);
    }

    /// <summary>deploy/kubernetes/featurize-job.yaml, parsed.</summary>
    private sealed class KubernetesJob
    {
        public required YamlMappingNode Root { get; init; }
        public YamlMappingNode Spec => Root.Map("spec");
        public YamlMappingNode Pod => Spec.Map("template").Map("spec");
        public YamlMappingNode Container => (YamlMappingNode)((YamlSequenceNode)Pod.Children[new YamlScalarNode("containers")]).Children.Single();
        public List<string> Args => ((YamlSequenceNode)Container.Children[new YamlScalarNode("args")]).Children.Select(a => ((YamlScalarNode)a).Value!).ToList();
        public int Completions => int.Parse(Spec.Scalar("completions")!);

        /// <summary>Container mount path → the path the command line uses for it (the same: the job mounts where it reads).</summary>
        public Dictionary<string, string> Mounts =>
            ((YamlSequenceNode)Container.Children[new YamlScalarNode("volumeMounts")]).Children.Cast<YamlMappingNode>()
                .ToDictionary(m => m.Scalar("mountPath")!, m => m.Scalar("mountPath")!);

        public static KubernetesJob Read()
        {
            var yaml = new YamlStream();
            yaml.Load(new StringReader(File.ReadAllText(Deploy("kubernetes", "featurize-job.yaml"))));
            return new KubernetesJob { Root = (YamlMappingNode)yaml.Documents.Single().RootNode };
        }
    }

    /// <summary>The CLI run in a child process, its output collected.</summary>
    private sealed class ChildProcess
    {
        private readonly StringBuilder _output = new();

        public required Process Process { get; init; }

        public string Output
        {
            get { lock (_output) return _output.ToString(); }
        }

        public static string Dll
        {
            get
            {
                string configuration = typeof(ShardedFeaturizeTests).Assembly.GetCustomAttribute<AssemblyConfigurationAttribute>()?.Configuration ?? "Debug";
                return Path.Combine(SharedData.RepoRoot, "src", "ReverseSD.Cli", "bin", configuration, "net10.0", "reversesd.dll");
            }
        }

        /// <summary>Starts <c>dotnet reversesd.dll ARGS</c> (or <paramref name="program"/> ARGS) with its own temporary folder under <paramref name="dir"/>.</summary>
        public static ChildProcess Start(TempDirectory dir, IEnumerable<string> args, Dictionary<string, string> environment, string program = "dotnet")
        {
            Assert.True(File.Exists(Dll), $"{Dll} is missing: the test project builds the CLI through its project reference.");
            var start = new ProcessStartInfo(program) { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
            if (program == "dotnet") start.ArgumentList.Add(Dll);
            foreach (string arg in args) start.ArgumentList.Add(arg);
            string tmp = dir.File("tmp-" + Guid.NewGuid().ToString("N"));
            Directory.CreateDirectory(tmp);
            start.Environment["TMPDIR"] = tmp;
            start.Environment["CI"] = "true";
            foreach (var (name, value) in environment) start.Environment[name] = value;
            var cli = new ChildProcess { Process = new Process { StartInfo = start } };
            cli.Process.OutputDataReceived += (_, e) => { lock (cli._output) cli._output.AppendLine(e.Data); };
            cli.Process.ErrorDataReceived += (_, e) => { lock (cli._output) cli._output.AppendLine(e.Data); };
            cli.Process.Start();
            cli.Process.BeginOutputReadLine();
            cli.Process.BeginErrorReadLine();
            return cli;
        }

        public void WaitForSuccess()
        {
            Assert.True(Process.WaitForExit(TimeSpan.FromMinutes(10)), $"did not finish within 10 minutes: {Output}");
            Process.WaitForExit();
            Assert.True(Process.ExitCode == 0, $"exit {Process.ExitCode}: {Output}");
        }
    }
}

internal static class YamlMappingNodeExtensions
{
    public static YamlMappingNode Map(this YamlMappingNode node, string key) => (YamlMappingNode)node.Children[new YamlScalarNode(key)];

    public static string? Scalar(this YamlMappingNode node, string key) =>
        node.Children.TryGetValue(new YamlScalarNode(key), out var value) ? ((YamlScalarNode)value).Value : null;
}
