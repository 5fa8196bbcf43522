#:project ../src/ReverseSD.MLNet/ReverseSD.MLNet.csproj
#:property PublishAot=false
using Microsoft.ML;
using ReverseSD.MLNet.Backbones;
using ReverseSD.MLNet.Data;
static void Probe(string at) => Console.WriteLine($"PROBE {at}: " + string.Join(" ", Directory.GetFiles(Path.GetTempPath()).Select(f => new FileInfo(f)).Where(f => f.Name.Length == 12 && f.Name[8] == '.').Select(f => $"{f.Name}:{f.Length / 1000}k")));
var ml = new MLContext(1);
IDataView validation = ImageFolderDataset.Load(ml, args[0], "validation");
var backbone = ml.Transforms.ApplyImageBackbone(ImageBackbone.ResNet18, "ImageFeatures", "ImagePath");
var t = backbone.Fit(validation);
Probe("fitted");
Console.WriteLine(t.GetType() + " " + typeof(ImageBackboneTransformer).GetField("_chain", System.Reflection.BindingFlags.NonPublic | System.Reflection.BindingFlags.Instance)!.GetValue(t)!.GetType());
var chain = (System.Collections.Generic.IEnumerable<ITransformer>)typeof(ImageBackboneTransformer).GetField("_chain", System.Reflection.BindingFlags.NonPublic | System.Reflection.BindingFlags.Instance)!.GetValue(t)!;
foreach (var x in chain) Console.WriteLine($"  {x.GetType().Name} disposable={x is IDisposable}");
((IDisposable)chain.First(x => x is IDisposable)).Dispose();
Probe("onnx disposed");
var onnx = chain.First(x => x is IDisposable);
var model = onnx.GetType().GetField("Model", System.Reflection.BindingFlags.NonPublic | System.Reflection.BindingFlags.Instance | System.Reflection.BindingFlags.Public)!.GetValue(onnx)!;
foreach (var f in model.GetType().GetFields(System.Reflection.BindingFlags.NonPublic | System.Reflection.BindingFlags.Instance | System.Reflection.BindingFlags.Public)) Console.WriteLine($"  field {f.Name} = {f.GetValue(model)}");
foreach (var p in model.GetType().GetProperties(System.Reflection.BindingFlags.NonPublic | System.Reflection.BindingFlags.Instance | System.Reflection.BindingFlags.Public)) { try { Console.WriteLine($"  prop {p.Name} = {p.GetValue(model)}"); } catch {} }
t.Dispose();
Probe("disposed");
