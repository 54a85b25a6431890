"""Reserved words per language, from each language's specification.

CodeBLEU's weighted n-gram match gives these weight 1 and every other token
0.2 (Ren et al. 2020). The token classifier does not need these lists (a
grammar's anonymous word tokens are its keywords); they name the words a
person would call keywords, including literal words such as `true`/`None`.
"""

from __future__ import annotations

from functools import cache

from codelm.analysis.parsing import normalize_language

_JS = """
async await break case catch class const continue debugger default delete do else enum export
extends false finally for function if implements import in instanceof interface let new null of
package private protected public return static super switch this throw true try typeof var void
while with yield get set
"""

_C = """
auto break case char const continue default do double else enum extern float for goto if inline
int long register restrict return short signed sizeof static struct switch typedef union unsigned
void volatile while _Alignas _Alignof _Atomic _Bool _Complex _Generic _Imaginary _Noreturn
_Static_assert _Thread_local alignas alignof bool constexpr false nullptr static_assert
thread_local true typeof typeof_unqual
"""

_KEYWORDS: dict[str, str] = {
    # Python 3 `keyword.kwlist` plus the soft keywords match/case/type.
    "python": """
False None True and as assert async await break class continue def del elif else except finally
for from global if import in is lambda nonlocal not or pass raise return try while with yield
match case type
""",
    # JLS 17 §3.9 reserved words, the literals, and the contextual words in common use.
    "java": """
abstract assert boolean break byte case catch char class const continue default do double else
enum extends final finally float for goto if implements import instanceof int interface long
native new package private protected public return short static strictfp super switch
synchronized this throw throws transient try void volatile while true false null var yield
record sealed permits
""",
    "javascript": _JS,
    "typescript": _JS + """
abstract any as asserts boolean declare infer is keyof module namespace never number object
override readonly require satisfies string symbol type undefined unknown
""",
    "tsx": _JS + """
abstract any as asserts boolean declare infer is keyof module namespace never number object
override readonly require satisfies string symbol type undefined unknown
""",
    "go": """
break case chan const continue default defer else fallthrough for func go goto if import
interface map package range return select struct switch type var
""",
    "rust": """
as async await break const continue crate dyn else enum extern false fn for if impl in let loop
match mod move mut pub ref return self Self static struct super trait true type unsafe use where
while yield abstract become box do final macro override priv try typeof unsized virtual
""",
    "c": _C,
    "cpp": _C + """
and and_eq asm bitand bitor catch char8_t char16_t char32_t class compl concept consteval
constinit const_cast co_await co_return co_yield decltype delete dynamic_cast explicit export
final friend import module mutable namespace new noexcept not not_eq operator or or_eq override
private protected public reinterpret_cast requires static_cast template this throw try typeid
typename using virtual wchar_t xor xor_eq
""",
    "csharp": """
abstract as base bool break byte case catch char checked class const continue decimal default
delegate do double else enum event explicit extern false finally fixed float for foreach goto if
implicit in int interface internal is lock long namespace new null object operator out override
params private protected public readonly ref return sbyte sealed short sizeof stackalloc static
string struct switch this throw true try typeof uint ulong unchecked unsafe ushort using virtual
void volatile while async await var get set value yield partial where when record init nameof
dynamic global
""",
    "ruby": """
__ENCODING__ __LINE__ __FILE__ BEGIN END alias and begin break case class def defined? do else
elsif end ensure false for if in module next nil not or redo rescue retry return self super then
true undef unless until when while yield
""",
    "php": """
__halt_compiler abstract and array as break callable case catch class clone const continue
declare default die do echo else elseif empty enddeclare endfor endforeach endif endswitch
endwhile enum eval exit extends final finally fn for foreach function global goto if implements
include include_once instanceof insteadof interface isset list match namespace new or print
private protected public readonly require require_once return static switch throw trait try
unset use var while xor yield true false null self parent
""",
}


@cache
def keywords(language: str) -> frozenset[str]:
    """The reserved words of a supported language (as spelled in source)."""
    return frozenset(_KEYWORDS[normalize_language(language)].split())
