using System.Globalization;
using System.Runtime.InteropServices;
using Google.Protobuf;
using ReverseSD.MLNet.Onnx.Proto;
using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace ReverseSD.MLNet.FineTuning;

/// <summary>One tensor of <see cref="ResNet18Network"/> and the ONNX initializer that holds it.</summary>
/// <param name="Initializer">The initializer's name in the ONNX graph.</param>
/// <param name="Target">The network's parameter or buffer.</param>
/// <param name="Layer">0 for the stem, 1..4 for the residual layers.</param>
internal sealed record ResNet18WeightBinding(string Initializer, Tensor Target, int Layer);

/// <summary>
/// Maps ML.NET's ResNet18 ONNX graph (CNTK export: Conv without bias, BatchNormalization with scale, bias, mean and
/// variance, not folded) onto <see cref="ResNet18Network"/> by following the data flow from the image input: stem,
/// then for each basic block the 3×3 convolutions, the optional 1×1 shortcut and the Add. Every node's attributes and
/// every initializer's shape are checked against the network, so a graph of another layout is refused, never half-read.
/// <see cref="Load"/> copies the initializers into the network; <see cref="WriteBack"/> writes the network's tensors back
/// into the same initializers of the same graph (the nodes are untouched).
/// </summary>
internal static class ResNet18OnnxWeights
{
    /// <summary>Binds every convolution and batch-norm tensor of <paramref name="network"/> to its initializer in <paramref name="model"/>.</summary>
    public static IReadOnlyList<ResNet18WeightBinding> Bind(ModelProto model, ResNet18Network network, string source)
    {
        ArgumentNullException.ThrowIfNull(model);
        ArgumentNullException.ThrowIfNull(network);
        var reader = new GraphReader(model.Graph, source);
        var bindings = new List<ResNet18WeightBinding>();
        string tensor = reader.ImageInput();

        var stem = reader.Conv(tensor, network.Stem, bindings, layer: 0);
        var stemRelu = reader.Consumer(reader.BatchNorm(stem, network.StemNorm, bindings, 0), "Relu");
        var pool = reader.Consumer(stemRelu.Output[0], "MaxPool");
        reader.Require(pool, "kernel_shape", [3, 3]);
        reader.Require(pool, "strides", [2, 2]);
        reader.Require(pool, "pads", [1, 1, 0, 0]);
        tensor = pool.Output[0];

        for (int l = 0; l < network.Layers.Count; l++)
        {
            foreach (var block in network.Layers[l])
            {
                string input = tensor;
                string shortcut = input;
                if (block.Downsample != null)
                {
                    var down = reader.Conv(input, block.Downsample, bindings, l + 1);
                    shortcut = reader.BatchNorm(down, block.DownsampleNorm!, bindings, l + 1);
                }
                var conv1 = reader.Conv(input, block.Conv1, bindings, l + 1);
                var relu1 = reader.Consumer(reader.BatchNorm(conv1, block.Norm1, bindings, l + 1), "Relu");
                var conv2 = reader.Conv(relu1.Output[0], block.Conv2, bindings, l + 1);
                var add = reader.Consumer(reader.BatchNorm(conv2, block.Norm2, bindings, l + 1), "Add");
                if (!add.Input.Contains(shortcut))
                    throw reader.NotResNet18($"the residual Add '{add.Name}' does not add the block's shortcut '{shortcut}'");
                tensor = reader.Consumer(add.Output[0], "Relu").Output[0];
            }
        }
        var last = reader.ConsumerOf(tensor, "AveragePool", "GlobalAveragePool");
        if (last.OpType == "AveragePool")
            reader.Require(last, "kernel_shape", [7, 7]);
        return bindings;
    }

    /// <summary>Copies the initializers of <paramref name="model"/> into <paramref name="network"/>.</summary>
    public static void Load(ModelProto model, ResNet18Network network, string source)
    {
        var initializers = model.Graph.Initializer.ToDictionary(t => t.Name, StringComparer.Ordinal);
        using var noGrad = torch.no_grad();
        foreach (var binding in Bind(model, network, source))
        {
            float[] values = Values(initializers[binding.Initializer]);
            using var loaded = torch.tensor(values, binding.Target.shape);
            binding.Target.copy_(loaded);
        }
    }

    /// <summary>
    /// A copy of <paramref name="model"/> whose initializers hold <paramref name="network"/>'s current tensors (only those
    /// of layers ≥ <paramref name="fromLayer"/>; the others keep their bytes). The nodes and every other field are unchanged.
    /// </summary>
    public static ModelProto WriteBack(ModelProto model, ResNet18Network network, string source, int fromLayer = 0)
    {
        var copy = model.Clone();
        var initializers = copy.Graph.Initializer.ToDictionary(t => t.Name, StringComparer.Ordinal);
        foreach (var binding in Bind(copy, network, source).Where(b => b.Layer >= fromLayer))
        {
            using var values = binding.Target.detach().cpu().contiguous();
            var initializer = initializers[binding.Initializer];
            initializer.FloatData.Clear();
            initializer.RawData = ByteString.CopyFrom(MemoryMarshal.AsBytes(values.data<float>().ToArray().AsSpan()));
        }
        return copy;
    }

    private static float[] Values(TensorProto t) => t.FloatData.Count > 0
        ? t.FloatData.ToArray()
        : MemoryMarshal.Cast<byte, float>(t.RawData.Span).ToArray();

    /// <summary>Walks the graph by data flow and checks each node against the network.</summary>
    private sealed class GraphReader
    {
        private readonly GraphProto _graph;
        private readonly string _source;
        private readonly Dictionary<string, TensorProto> _initializers;
        private readonly ILookup<string, NodeProto> _consumers;

        public GraphReader(GraphProto graph, string source)
        {
            _graph = graph;
            _source = source;
            _initializers = graph.Initializer.ToDictionary(t => t.Name, StringComparer.Ordinal);
            _consumers = graph.Node.SelectMany(n => n.Input.Select(i => (Input: i, Node: n))).ToLookup(p => p.Input, p => p.Node, StringComparer.Ordinal);
        }

        public ReverseSdInputException NotResNet18(string what) => new(
            $"Backbone model '{_source}' is not ML.NET's ResNet18 graph ({what}): fine-tuning supports the resnet18 presets only; use --finetune none for other backbones.");

        public string ImageInput()
        {
            var inputs = _graph.Input.Where(i => !_initializers.ContainsKey(i.Name)).ToList();
            return inputs.Count == 1 ? inputs[0].Name : throw NotResNet18($"{inputs.Count} inputs");
        }

        public NodeProto Consumer(string tensor, string opType) => ConsumerOf(tensor, opType);

        public NodeProto ConsumerOf(string tensor, params string[] opTypes)
        {
            var nodes = _consumers[tensor].Where(n => opTypes.Contains(n.OpType)).ToList();
            return nodes.Count == 1
                ? nodes[0]
                : throw NotResNet18($"{nodes.Count} {string.Join("/", opTypes)} nodes read '{tensor}', expected 1");
        }

        /// <summary>The convolution with <paramref name="conv"/>'s kernel size reading <paramref name="input"/>; binds its weight.</summary>
        public NodeProto Conv(string input, PaddedConv2d conv, List<ResNet18WeightBinding> bindings, int layer)
        {
            var nodes = _consumers[input].Where(n => n.OpType == "Conv" && Ints(n, "kernel_shape") is [var k, _] && k == conv.Kernel).ToList();
            if (nodes.Count != 1)
                throw NotResNet18($"{nodes.Count} {conv.Kernel}×{conv.Kernel} Conv nodes read '{input}', expected 1");
            var node = nodes[0];
            if (node.Input.Count != 2) throw NotResNet18($"Conv '{node.Name}' has a bias");
            Require(node, "strides", [conv.Stride, conv.Stride]);
            Require(node, "pads", conv.OnnxPads);
            if (Ints(node, "dilations") is { } dilations && dilations.Any(d => d != 1)) throw NotResNet18($"Conv '{node.Name}' is dilated");
            if (node.Attribute.FirstOrDefault(a => a.Name == "group") is { } group && group.I != 1) throw NotResNet18($"Conv '{node.Name}' is grouped");
            bindings.Add(BindInitializer(node.Input[1], conv.Weight, layer));
            return node;
        }

        /// <summary>The batch norm after <paramref name="conv"/>; binds scale, bias, mean and variance; returns its output.</summary>
        public string BatchNorm(NodeProto conv, BatchNorm2d norm, List<ResNet18WeightBinding> bindings, int layer)
        {
            var node = Consumer(conv.Output[0], "BatchNormalization");
            if (node.Input.Count != 5) throw NotResNet18($"BatchNormalization '{node.Name}' has {node.Input.Count} inputs");
            float epsilon = node.Attribute.FirstOrDefault(a => a.Name == "epsilon")?.F ?? 1e-5f;
            if (Math.Abs(epsilon - ResNet18Network.BatchNormEpsilon) > 1e-9)
                throw NotResNet18($"BatchNormalization '{node.Name}' has epsilon {epsilon.ToString(CultureInfo.InvariantCulture)}");
            Tensor[] targets = [norm.weight!, norm.bias!, norm.running_mean!, norm.running_var!];
            for (int i = 0; i < 4; i++)
                bindings.Add(BindInitializer(node.Input[i + 1], targets[i], layer));
            return node.Output[0];
        }

        public void Require(NodeProto node, string attribute, long[] expected)
        {
            var actual = Ints(node, attribute);
            bool defaultPads = actual == null && attribute == "pads" && expected.All(p => p == 0);
            if (!defaultPads && (actual == null || !actual.SequenceEqual(expected)))
                throw NotResNet18($"{node.OpType} '{node.Name}' has {attribute} [{string.Join(",", actual ?? [])}], expected [{string.Join(",", expected)}]");
        }

        private ResNet18WeightBinding BindInitializer(string name, Tensor target, int layer)
        {
            if (!_initializers.TryGetValue(name, out var initializer))
                throw NotResNet18($"'{name}' is not an initializer");
            if (initializer.DataType != (int)TensorProto.Types.DataType.Float)
                throw NotResNet18($"initializer '{name}' is not float");
            if (!initializer.Dims.SequenceEqual(target.shape))
                throw NotResNet18($"initializer '{name}' has shape [{string.Join(",", initializer.Dims)}], expected [{string.Join(",", target.shape)}]");
            long count = target.shape.Aggregate(1L, (a, b) => a * b);
            long stored = initializer.FloatData.Count > 0 ? initializer.FloatData.Count : initializer.RawData.Length / sizeof(float);
            if (stored != count) throw NotResNet18($"initializer '{name}' holds {stored} values, expected {count}");
            return new ResNet18WeightBinding(name, target, layer);
        }

        private static long[]? Ints(NodeProto node, string name) =>
            node.Attribute.FirstOrDefault(a => a.Name == name)?.Ints.ToArray();
    }
}
