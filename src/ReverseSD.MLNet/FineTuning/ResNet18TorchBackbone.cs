using ReverseSD.MLNet.Backbones;
using ReverseSD.MLNet.Onnx.Proto;
using TorchSharp;
using static TorchSharp.torch;

namespace ReverseSD.MLNet.FineTuning;

/// <summary>
/// A ResNet18 backbone (<see cref="ImageBackbone.ResNet18"/> or <see cref="ImageBackbone.ResNet18At"/>) as a trainable
/// TorchSharp network: the weights read from its ONNX graph, the images read by the fast path's pixel loader
/// (<see cref="ImagePixelLoader"/>) and normalised as the composed graph normalises them, so its features equal ONNX
/// Runtime's. <see cref="ToBackbone"/> writes the (fine-tuned) weights back into the same graph.
/// </summary>
internal sealed class ResNet18TorchBackbone : IDisposable
{
    private readonly ModelProto _model;
    private readonly Tensor _mean;
    private readonly Tensor _std;
    private bool _disposed;

    private ResNet18TorchBackbone(ImageBackbone source, ModelProto model, ResNet18Network network, Tensor mean, Tensor std)
    {
        Source = source;
        _model = model;
        Network = network;
        _mean = mean;
        _std = std;
    }

    /// <summary>The backbone the weights were read from.</summary>
    public ImageBackbone Source { get; }

    /// <summary>The network (eval mode after <see cref="Create"/>).</summary>
    public ResNet18Network Network { get; }

    /// <summary>Reads <paramref name="backbone"/>'s ONNX graph into a new network on the CPU.</summary>
    public static ResNet18TorchBackbone Create(ImageBackbone backbone)
    {
        ArgumentNullException.ThrowIfNull(backbone);
        if (!backbone.IsResNet18)
            throw new ReverseSdInputException(
                $"Backbone '{backbone.Name}' is not a ResNet18 preset: fine-tuning supports resnet18 and resnet18-SIZE only; use --finetune none for other backbones.");
        var model = backbone.ReadModel();
        // Its modules draw their (overwritten) initial weights from torch's default generator: under the gate, so a seeded
        // training running at the same time is not shifted.
        ResNet18Network network;
        lock (TorchRandom.Gate) network = new ResNet18Network();
        try
        {
            ResNet18OnnxWeights.Load(model, network, backbone.ModelPath);
            network.eval();
            var (mean, meanShape, std) = backbone.Normalization();
            return new ResNet18TorchBackbone(backbone, model, network, torch.tensor(mean, meanShape), torch.tensor(std, [1, 3, 1, 1]));
        }
        catch
        {
            network.Dispose();
            throw;
        }
    }

    /// <summary>
    /// Decodes and normalises the images at <paramref name="paths"/> (decoding on every core): the network input
    /// [k,3,H,W] of the k readable ones, in order, and for every path its problem (null when read).
    /// </summary>
    public (Tensor? Input, string?[] Problems) ReadImages(IReadOnlyList<string> paths, CancellationToken cancellationToken = default)
    {
        ObjectDisposedException.ThrowIf(_disposed, this);
        ArgumentNullException.ThrowIfNull(paths);
        var spec = Source.Preprocessing;
        int chw = 3 * spec.Width * spec.Height;
        var pixels = new float[(long)paths.Count * chw];
        var problems = new string?[paths.Count];
        Parallel.For(0, paths.Count, new ParallelOptions { CancellationToken = cancellationToken },
            () => new ImagePixelLoader(spec),
            (i, _, loader) =>
            {
                problems[i] = loader.Load(paths[i], pixels.AsSpan(i * chw, chw));
                return loader;
            },
            loader => loader.Dispose());
        var readable = Enumerable.Range(0, paths.Count).Where(i => problems[i] == null).ToArray();
        if (readable.Length == 0) return (null, problems);
        if (readable.Length < paths.Count)
            for (int k = 0; k < readable.Length; k++)
                Array.Copy(pixels, (long)readable[k] * chw, pixels, (long)k * chw, chw);
        using var scope = torch.NewDisposeScope();
        var raw = torch.tensor(pixels.AsSpan(0, readable.Length * chw).ToArray(), [readable.Length, 3, spec.Height, spec.Width]);
        // As the composed graph: Sub(mean) then Div(std).
        return (((raw - _mean) / _std).MoveToOuterDisposeScope(), problems);
    }

    /// <summary>Features of the images at <paramref name="paths"/> (eval mode, no gradients), one row per path, null for an unreadable image.</summary>
    public float[]?[] Featurize(IReadOnlyList<string> paths, int batchSize = 8, CancellationToken cancellationToken = default)
    {
        ObjectDisposedException.ThrowIf(_disposed, this);
        var result = new float[]?[paths.Count];
        bool wasTraining = Network.training;
        Network.eval();
        try
        {
            using var noGrad = torch.no_grad();
            for (int start = 0; start < paths.Count; start += batchSize)
            {
                var batch = paths.Skip(start).Take(batchSize).ToList();
                var (input, problems) = ReadImages(batch, cancellationToken);
                if (input is null) continue;
                using (input)
                using (var features = Network.call(input))
                {
                    int k = 0;
                    for (int i = 0; i < batch.Count; i++)
                        if (problems[i] == null) result[start + i] = features[k++].data<float>().ToArray();
                }
            }
        }
        finally
        {
            if (wasTraining) Network.train();
        }
        return result;
    }

    /// <summary>
    /// The backbone with the network's current weights written into the source graph's initializers (layers ≥
    /// <paramref name="fromLayer"/>; the nodes unchanged), named <paramref name="name"/>: it composes, caches and serves as any backbone.
    /// </summary>
    public ImageBackbone ToBackbone(string name, int fromLayer = 0)
    {
        ObjectDisposedException.ThrowIf(_disposed, this);
        var written = ResNet18OnnxWeights.WriteBack(_model, Network, Source.ModelPath, fromLayer);
        return Source.WithModel(Google.Protobuf.MessageExtensions.ToByteArray(written), name);
    }

    /// <summary>Releases the network's tensors; safe to call more than once.</summary>
    public void Dispose()
    {
        if (_disposed) return;
        _disposed = true;
        Network.Dispose();
        _mean.Dispose();
        _std.Dispose();
    }
}
